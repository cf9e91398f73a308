"""Carrying out what the domain decided about a transaction: the row saved with one guarded
update, the history written, and each message sent through the outbox with the broker's next
``seq`` for its recipient; or a refusal recorded and answered with ``ill.error``."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import Envelope, IllError
from libs.common.contracts.registry import type_of
from libs.common.ill.sequence import next_seq
from libs.common.messaging.outbox import send
from libs.common.messaging.topology import circulation_address
from services.requests.adapters import transactions as repo
from services.requests.adapters.tables import ill_seq, outbox
from services.requests.domain.broker import BROKER, Decision, Refusal, TransactionView
from services.requests.handlers.context import Broker


def side_of(view: TransactionView | None, sender: str) -> str:
    if sender == BROKER:
        return "broker"
    if view is not None and sender == view.requester:
        return "requester"
    return "supplier"


def _numbered(payload: BaseModel) -> bool:
    return "seq" in type(payload).model_fields


def _about(payload: BaseModel) -> dict[str, str | None]:
    return {
        "message_type": type_of(payload),
        "status": getattr(payload, "status", None),
        "action": getattr(payload, "action", None),
    }


async def send_to(
    conn: AsyncConnection,
    ctx: Broker,
    transaction_id: str,
    library: str,
    payload: BaseModel,
    *,
    causation_id: str | None,
) -> Envelope:
    """Send ``payload`` to a library's queue, numbered in the broker's order for it."""
    if _numbered(payload):
        seq = await next_seq(conn, ill_seq, transaction_id, library)
        payload = payload.model_copy(update={"seq": seq})
    return await send(
        conn,
        outbox,
        payload,
        sender=BROKER,
        recipient=circulation_address(library),
        correlation_id=transaction_id,
        causation_id=causation_id,
        clock=ctx.clock,
    )


async def carry_out(
    conn: AsyncConnection,
    ctx: Broker,
    before: TransactionView,
    decision: Decision,
    *,
    env: Envelope | None,
    payload: BaseModel | None = None,
    cause: str | None = None,
) -> None:
    """Save the decision, record it (the message that caused it, or the broker's own step)
    and send its messages. ``env`` is None for the broker's own step (a job's, or routing),
    ``cause`` then the message that led to it, if any."""
    now = ctx.clock.now()
    cause = env.message_id if env else cause
    after = decision.view
    if not decision.record_only:
        # The numbers of the messages the step sends taken by the statement that saves it.
        numbered = Counter(out.to for out in decision.sends if _numbered(out.payload))
        await repo.save(conn, before, after, decision.step, now, numbers=numbered)
    moved = not decision.record_only and (decision.step is not None or after != before)
    lines = [
        repo.history_row(
            transaction_id=before.id,
            at=now,
            side=side_of(before, env.sender) if env else "broker",
            actor=env.sender if env else BROKER,
            from_state=before.state.value,
            to_state=after.state.value if moved else None,
            message_id=env.message_id if env else None,
            detail=decision.note or (decision.step and f"step {decision.step}"),
            **(_about(payload) if payload is not None else {}),
        )
    ]
    for out in decision.sends:
        sent = await send_to(conn, ctx, before.id, out.to, out.payload, causation_id=cause)
        lines.append(
            repo.history_row(
                transaction_id=before.id,
                at=now,
                side="broker",
                actor=BROKER,
                message_id=sent.message_id,
                detail=f"sent to {out.to}",
                **_about(out.payload),
            )
        )
    # One statement for the decision's line and its messages' lines, in that order.
    await repo.record_all(conn, lines)


async def refuse(
    conn: AsyncConnection,
    ctx: Broker,
    view: TransactionView | None,
    env: Envelope,
    payload: BaseModel,
    refusal: Refusal,
    *,
    transaction_id: str,
) -> None:
    """A message illegal in the broker's view: recorded as refused (never applied) and
    answered to its sender with ``ill.error``."""
    state = view.state.value if view else None
    await repo.record(
        conn,
        transaction_id=transaction_id,
        at=ctx.clock.now(),
        side=side_of(view, env.sender),
        actor=env.sender,
        from_state=state,
        message_id=env.message_id,
        refused=refusal.reason,
        **_about(payload),
    )
    error = IllError(
        transaction_id=transaction_id,
        refused_message_id=env.message_id,
        refused_type=env.type,
        error_type=refusal.error_type,
        reason=refusal.reason[:500],
        state=state,
    )
    await send_to(conn, ctx, transaction_id, env.sender, error, causation_id=env.message_id)
