"""MALA-12, a lost institutional card: reported at the home library (the fee posted to the
patron, the lender told through the broker, in one transaction) and recorded by the lender
when the broker passes the report on."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import appends
from libs.common.contracts import Envelope, IllCardLost
from libs.common.messaging.consumer import RejectMessage
from libs.common.messaging.outbox import send
from services.circulation.adapters import ill_borrowing_repo, ill_lending_repo, ledger_repo
from services.circulation.adapters.tables import ill_history, institutional_card_losses, outbox
from services.circulation.domain.card_losses import NotReportable, report_card_lost
from services.circulation.domain.ill_borrowing import new_pseudonym
from services.circulation.handlers.context import Invalid, Library
from services.circulation.handlers.ill_messages import BROKER
from services.circulation.handlers.patrons import load_patron

t = institutional_card_losses


async def report_lost(
    conn: AsyncConnection, lib: Library, patron_id: str, lender: str
) -> dict[str, Any]:
    """Home staff report the patron's card of ``lender`` lost (MALA-12)."""
    patron = await load_patron(conn, lib, patron_id, for_update=True)
    now = lib.now()
    try:
        report = report_card_lost(
            patron,
            lib.policy,
            home=lib.code,
            lender=lender,
            peers=lib.peers,
            borrowings=await ill_borrowing_repo.for_patron(conn, patron_id),
            report_id=str(uuid.uuid4()),
            patron_ref=new_pseudonym(),
            at=now,
            on=lib.today(),
        )
    except NotReportable as exc:
        raise Invalid(str(exc)) from exc
    msg = report.message
    await ledger_repo.add_entries(conn, report.fee)
    env = await send(
        conn,
        outbox,
        msg,
        sender=lib.code,
        recipient=BROKER,
        correlation_id=msg.report_id,
        causation_id=None,
        clock=lib.clock,
    )
    await conn.execute(
        insert(t).values(
            report_id=msg.report_id,
            role="requester",
            library=lender,
            patron_id=patron_id,
            patron_ref=msg.patron_ref,
            transactions=msg.transactions,
            fee_entry_id=report.fee.entry_id,
            reported_at=now,
            recorded_at=now,
            message_id=env.message_id,
        )
    )
    return {
        "report_id": msg.report_id,
        "lender": lender,
        "rule": msg.rule,
        "transactions": msg.transactions,
        "reported_at": now,
        "fee": {
            "entry_id": report.fee.entry_id,
            "kind": report.fee.kind,
            "amount_minor": report.fee.amount.amount_minor,
            "currency": report.fee.amount.currency,
            "rule": report.fee.rule,
        },
    }


async def on_card_lost(
    conn: AsyncConnection, lib: Library, env: Envelope, payload: IllCardLost
) -> None:
    """The lender records the report the broker passed on: its own patron reference and the
    requests it holds for the patron (their histories note it: the borrower answered for the
    card's use until now)."""
    if payload.lender != lib.code:
        raise RejectMessage(f"the report is for {payload.lender}, not {lib.code}")
    known = await conn.scalar(
        select(t.c.id).where(t.c.report_id == payload.report_id, t.c.role == "supplier")
    )
    if known is not None:
        return  # the same report again under a new message id
    now = lib.now()
    await conn.execute(
        insert(t).values(
            report_id=payload.report_id,
            role="supplier",
            library=payload.requester,
            patron_ref=payload.patron_ref,
            transactions=payload.transactions,
            reported_at=payload.reported_at,
            recorded_at=now,
            message_id=env.message_id,
        )
    )
    await appends.flush(conn, ill_history)  # the lines before these keep their order
    for txn in payload.transactions:
        lending = await ill_lending_repo.get(conn, txn)
        if lending is None or lending["requester"] != payload.requester:
            continue
        await conn.execute(
            insert(ill_history).values(
                transaction_id=txn,
                role="supplier",
                at=now,
                from_state=lending["state"],
                to_state=None,
                event="card_lost (MALA-12)",
                message_id=env.message_id,
                actor=payload.requester,
            )
        )


async def received(conn: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """The reports this library received as a lender, newest first."""
    rows = await conn.execute(
        select(t).where(t.c.role == "supplier").order_by(t.c.id.desc()).limit(limit)
    )
    return [
        {
            "report_id": r.report_id,
            "home_library": r.library,
            "patron_ref": r.patron_ref,
            "transactions": r.transactions,
            "reported_at": r.reported_at,
            "recorded_at": r.recorded_at,
        }
        for r in rows
    ]
