"""The broker's periodic jobs, on the injectable clock: lenders that did not answer in time
are sent a Cancel and the next candidate is asked; requests waiting for the catalogue are
routed once it is back."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.db import unit_of_work
from services.requests.adapters import transactions as repo
from services.requests.domain.broker import BrokerState, lender_timed_out
from services.requests.handlers.context import Broker
from services.requests.handlers.routing import look_up, route, settle


async def skip_silent_lenders(engine: AsyncEngine, ctx: Broker) -> int:
    """Every transaction whose asked lender's time ran out: the lender is cancelled and the
    next one asked. Returns how many were moved on."""
    now = ctx.clock.now()
    async with engine.connect() as conn:
        due = await repo.lenders_overdue(conn, now, ctx.answer_hours)
    moved = 0
    for txn in due:
        async with unit_of_work(engine) as conn:
            found = await repo.load(conn, txn)
            if found is None:
                continue
            view, request = found
            hours = ctx.answer_hours.get(view.consortium)
            decision = lender_timed_out(view, now, hours) if hours else None
            if decision is None:
                continue  # it answered meanwhile
            await settle(conn, ctx, view, decision, request, env=None)
            moved += 1
    return moved


async def retry_routing(engine: AsyncEngine, ctx: Broker) -> int:
    """Route the transactions left in Routing (the catalogue was away). Stops at the first
    that finds the catalogue still away. Returns how many were routed."""
    async with engine.connect() as conn:
        waiting = await repo.in_state(conn, BrokerState.Routing)
    routed = 0
    for txn in waiting:
        async with engine.connect() as conn:
            found = await repo.load(conn, txn, lock=False)
        if found is None or found[0].state != BrokerState.Routing:
            continue
        # The catalogue is asked before the transaction is locked: no lock waits on it.
        looked = await look_up(ctx, found[1])
        async with unit_of_work(engine) as conn:
            found = await repo.load(conn, txn)
            if found is None or found[0].state != BrokerState.Routing:
                continue  # moved on (cancelled, routed) while the catalogue answered
            if not await route(conn, ctx, found[0], found[1], env=None, looked=looked):
                break
            routed += 1
    return routed
