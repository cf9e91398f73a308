"""Patron sessions: the ``sid`` of each session token, and when and why it ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.circulation.adapters.store import aware
from services.circulation.adapters.tables import patron_sessions


async def start(
    conn: AsyncConnection,
    session_id: str,
    patron_id: str,
    *,
    card_number: str | None,
    at: datetime,
    expires_at: datetime,
) -> None:
    # The patron's sessions that have expired are of no use any more: dropped as a new one
    # starts, so the table holds about one row per patron signed in.
    rows = await conn.execute(
        select(patron_sessions.c.session_id, patron_sessions.c.expires_at).where(
            patron_sessions.c.patron_id == patron_id
        )
    )
    expired = [r.session_id for r in rows if aware(r.expires_at) <= at]
    if expired:
        await conn.execute(delete(patron_sessions).where(patron_sessions.c.session_id.in_(expired)))
    await conn.execute(
        insert(patron_sessions).values(
            session_id=session_id,
            patron_id=patron_id,
            card_number=card_number,
            started_at=at,
            expires_at=expires_at,
        )
    )


async def is_live(conn: AsyncConnection, session_id: str, patron_id: str, now: datetime) -> bool:
    row = (
        await conn.execute(
            select(patron_sessions).where(patron_sessions.c.session_id == session_id)
        )
    ).first()
    return (
        row is not None
        and row.patron_id == patron_id
        and row.ended_at is None
        and aware(row.expires_at) > now
    )


async def end(conn: AsyncConnection, session_id: str, *, at: datetime, reason: str) -> None:
    await conn.execute(
        update(patron_sessions)
        .where(patron_sessions.c.session_id == session_id, patron_sessions.c.ended_at.is_(None))
        .values(ended_at=at, end_reason=reason)
    )


async def end_all(
    conn: AsyncConnection,
    patron_id: str,
    *,
    at: datetime,
    reason: str,
    card_number: str | None = None,
) -> None:
    """End every live session of the patron, or only those signed in with ``card_number``."""
    where = [patron_sessions.c.patron_id == patron_id, patron_sessions.c.ended_at.is_(None)]
    if card_number is not None:
        where.append(patron_sessions.c.card_number == card_number)
    await conn.execute(update(patron_sessions).where(*where).values(ended_at=at, end_reason=reason))
