"""Reservation queues, one per title."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.circulation.adapters.store import aware, save
from services.circulation.adapters.tables import holds
from services.circulation.domain.holds import Hold, HoldQueue

_HOLD_FIELDS = (
    "title_id",
    "patron_id",
    "placed_at",
    "sequence",
    "pickup_location",
    "status",
    "item_id",
    "ready_on",
    "pickup_by",
    "closed_at",
)


def _hold(row: Any) -> Hold:
    values = {k: getattr(row, k) for k in _HOLD_FIELDS}
    values["placed_at"], values["closed_at"] = aware(row.placed_at), aware(row.closed_at)
    return Hold(hold_id=row.id, **values)


async def queue(conn: AsyncConnection, title_id: str) -> HoldQueue:
    rows = (
        await conn.execute(
            select(holds).where(holds.c.title_id == title_id).order_by(holds.c.sequence)
        )
    ).all()
    return HoldQueue(title_id=title_id, holds=tuple(_hold(r) for r in rows))


async def save_holds(conn: AsyncConnection, changed: tuple[Hold, ...] | list[Hold]) -> None:
    for hold in changed:
        await save(conn, holds, {"id": hold.hold_id}, {k: getattr(hold, k) for k in _HOLD_FIELDS})


async def get_hold(conn: AsyncConnection, hold_id: str) -> Hold | None:
    row = (await conn.execute(select(holds).where(holds.c.id == hold_id))).first()
    return _hold(row) if row else None


async def patron_holds(conn: AsyncConnection, patron_id: str, *, open_only: bool) -> list[Hold]:
    q = select(holds).where(holds.c.patron_id == patron_id)
    if open_only:
        q = q.where(holds.c.status.in_(("waiting", "ready")))
    rows = (await conn.execute(q.order_by(holds.c.placed_at, holds.c.sequence))).all()
    return [_hold(r) for r in rows]


async def ready_holds(conn: AsyncConnection) -> list[Hold]:
    rows = (await conn.execute(select(holds).where(holds.c.status == "ready"))).all()
    return [_hold(r) for r in rows]


async def ready_hold_titles_for(conn: AsyncConnection, patron_id: str) -> dict[str, str]:
    """item id -> hold id of the copies waiting on the pickup shelf for this patron."""
    rows = (
        await conn.execute(
            select(holds.c.id, holds.c.item_id).where(
                holds.c.patron_id == patron_id, holds.c.status == "ready"
            )
        )
    ).all()
    return {r.item_id: r.id for r in rows if r.item_id}
