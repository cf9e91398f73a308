"""What the operators' dashboard reads from the transaction registry: counts by state, a
filtered and searched listing, each library's part as requester and as lender, and when
requests were made (the figures are worked out in ``domain.dashboard``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.requests.adapters.tables import ill_transaction_history as history_t
from services.requests.adapters.tables import ill_transactions as t
from services.requests.adapters.transactions import _stuck_condition


async def counts_by_state(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(t.c.state, func.count()).group_by(t.c.state))
    return {state: n for state, n in rows.all()}


async def borrowing_by_state(conn: AsyncConnection) -> list[tuple[str, str, int]]:
    """(requester, state, count) for every requesting library."""
    rows = await conn.execute(
        select(t.c.requester, t.c.state, func.count()).group_by(t.c.requester, t.c.state)
    )
    return [(r, s, n) for r, s, n in rows.all()]


async def lenders_tried(conn: AsyncConnection, since: datetime) -> list[list[dict[str, Any]]]:
    """Every transaction's lenders and how each answered, for those made since ``since``."""
    rows = await conn.execute(select(t.c.lenders_tried).where(t.c.created_at >= since))
    return [list(r or []) for (r,) in rows.all()]


async def created_since(conn: AsyncConnection, since: datetime) -> list[datetime]:
    rows = await conn.execute(select(t.c.created_at).where(t.c.created_at >= since))
    return [r for (r,) in rows.all()]


async def pickup_times(
    conn: AsyncConnection, since: datetime
) -> list[tuple[str, datetime, datetime]]:
    """(requester, requested at, checked out to the patron at) for the loans picked up since
    ``since``."""
    first = (
        select(history_t.c.transaction_id, func.min(history_t.c.at).label("at"))
        .where(history_t.c.to_state == "CheckedOut", history_t.c.at >= since)
        .group_by(history_t.c.transaction_id)
        .subquery()
    )
    rows = await conn.execute(
        select(t.c.requester, t.c.created_at, first.c.at).join(
            first, first.c.transaction_id == t.c.id
        )
    )
    return [(r, a, b) for r, a, b in rows.all()]


async def search(
    conn: AsyncConnection,
    *,
    states: Iterable[str] | None,
    library: str | None,
    text: str | None,
    stuck_at: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The most recently changed transactions that match: in one of ``states``, with
    ``library`` as requester or current lender, ``text`` in the id or the title."""
    query = select(t).order_by(t.c.updated_at.desc()).limit(limit)
    if states:
        query = query.where(t.c.state.in_(list(states)))
    if library:
        query = query.where(or_(t.c.requester == library, t.c.current_lender == library))
    if text:
        like = f"%{text.lower()}%"
        query = query.where(or_(t.c.id.like(f"{text}%"), func.lower(t.c.record_title).like(like)))
    if stuck_at is not None:
        query = query.where(_stuck_condition(stuck_at))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def stuck(conn: AsyncConnection, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
    query = select(t).where(and_(_stuck_condition(now))).order_by(t.c.updated_at).limit(limit)
    return [dict(r) for r in (await conn.execute(query)).mappings()]
