"""Finding the next lender for a transaction in Routing: the catalogue says who holds an
AVAILABLE copy now, the registry how many open lending transactions each has, the domain
chooses. When the catalogue is away the transaction stays in Routing (flagged) and the
routing job tries again; it is never failed for that."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.catalogue_client import CatalogueUnavailable
from libs.common.contracts import Envelope, IllRequest
from services.requests.adapters import transactions as repo
from services.requests.domain.broker import (
    BrokerState,
    Decision,
    TransactionView,
    catalogue_away,
    rota_ended,
    routed,
)
from services.requests.domain.routing import candidates_from_holdings, choose_lender, rotation_seed
from services.requests.handlers.context import Broker
from services.requests.handlers.outcome import carry_out

log = structlog.get_logger("illfed.requests.routing")


class Away:
    """The catalogue did not answer (a record looked up before the transaction was locked)."""


class Unasked:
    """The catalogue has not been asked yet: :func:`route` asks it."""


#: a record as the catalogue answered it: the record, None (no such record), or away
Looked = dict[str, Any] | None | Away
UNASKED = Unasked()


async def look_up(ctx: Broker, request: IllRequest) -> Looked:
    """The request's record with its holdings now, without holding anything: the retry job
    asks before it locks the transaction."""
    try:
        return await ctx.catalogue.record(request.record.record_id)
    except CatalogueUnavailable as exc:
        log.warning(
            "catalogue away; the request waits", transaction=request.transaction_id, error=str(exc)
        )
        return Away()


async def route(
    conn: AsyncConnection,
    ctx: Broker,
    view: TransactionView,
    request: IllRequest,
    *,
    env: Envelope | None,
    looked: Looked | Unasked = UNASKED,
) -> bool:
    """Ask the next lender (or end the rota), by the record ``looked`` up already or by
    asking the catalogue now. False when the catalogue was away."""
    assert view.state == BrokerState.Routing, view.state
    record = await look_up(ctx, request) if isinstance(looked, Unasked) else looked
    if isinstance(record, Away):
        if "awaiting_catalogue" not in view.flags:
            await carry_out(conn, ctx, view, catalogue_away(view), env=None)
        return False
    if record is None:
        decision = rota_ended(view, f"the catalogue has no record {request.record.record_id}")
    else:
        candidates = candidates_from_holdings(record.get("holdings") or [], ctx.members)
        chosen = choose_lender(
            candidates,
            await repo.open_lending_counts(conn),
            view.skipped,
            rotation_seed(view.id, len(view.tried)),
            requester=view.requester,
            consortium=view.consortium,
        )
        decision = routed(view, chosen, request, ctx.clock.now()) if chosen else rota_ended(view)
    await carry_out(conn, ctx, view, decision, env=None, cause=env.message_id if env else None)
    return True


async def settle(
    conn: AsyncConnection,
    ctx: Broker,
    before: TransactionView,
    decision: Decision,
    request: IllRequest,
    *,
    env: Envelope | None,
    payload=None,
) -> None:
    """Carry out a decision, then route at once if it asks for the next lender."""
    await carry_out(conn, ctx, before, decision, env=env, payload=payload)
    if decision.route and not decision.record_only:
        await route(conn, ctx, decision.view, request, env=env)
