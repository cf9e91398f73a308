"""Reservation queues (one per title) and the ledger of each account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.money import Money
from services.circulation.adapters import loans_repo
from services.circulation.adapters.store import aware, save
from services.circulation.adapters.tables import holds, ledger_entries
from services.circulation.domain.holds import Hold, HoldQueue
from services.circulation.domain.ledger import Ledger, LedgerEntry

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


# Ledger ------------------------------------------------------------------------------------


async def ledger(conn: AsyncConnection, patron_id: str, currency: str) -> Ledger:
    rows = (
        await conn.execute(
            select(ledger_entries)
            .where(ledger_entries.c.patron_id == patron_id)
            .order_by(ledger_entries.c.at, ledger_entries.c.position)
        )
    ).all()
    return Ledger(
        patron_id=patron_id,
        currency=currency,
        entries=tuple(
            LedgerEntry(
                entry_id=r.id,
                patron_id=r.patron_id,
                kind=r.kind,
                amount=Money(amount_minor=r.amount_minor, currency=r.currency),
                at=aware(r.at),
                on=r.entry_date,
                rule=r.rule,
                loan_id=r.loan_id,
                item_id=r.item_id,
                description=r.description,
                actor=r.actor,
                reason=r.reason,
                applies_to=r.applies_to,
                paid_by=r.paid_by,
            )
            for r in rows
        ),
    )


async def add_entries(conn: AsyncConnection, *entries: LedgerEntry | None) -> None:
    """Ledger entries are only ever added, never changed: a correction is a waiver."""
    posted = [e for e in entries if e is not None]
    if not posted:
        return
    first = await loans_repo.next_number(conn, "ledger", len(posted))
    rows = [
        {
            "id": e.entry_id,
            "patron_id": e.patron_id,
            "kind": e.kind,
            "amount_minor": e.amount.amount_minor,
            "currency": e.amount.currency,
            "at": e.at,
            "entry_date": e.on,
            "rule": e.rule,
            "loan_id": e.loan_id,
            "item_id": e.item_id,
            "description": e.description,
            "actor": e.actor,
            "reason": e.reason,
            "applies_to": e.applies_to,
            "paid_by": e.paid_by,
            "position": first + n,
        }
        for n, e in enumerate(posted)
    ]
    await conn.execute(insert(ledger_entries), rows)
