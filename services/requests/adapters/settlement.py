"""The settlement ledger's rows (MALA-13): entries added as the broker applies a lender's
charge, marked collected by the home library's ChargePaid, read back for statements."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.money import Money
from services.requests.adapters.tables import settlement_entries as s
from services.requests.domain.settlement import Entry, NewEntry


def _entry(row: Any) -> Entry:
    return Entry(
        id=row.id,
        transaction_id=row.transaction_id,
        home=row.home,
        lender=row.lender,
        kind=row.kind,
        amount=Money(amount_minor=row.amount_minor, currency=row.currency),
        rule=row.rule,
        charged_at=row.charged_at,
        charged_on=row.charged_on,
        collected_at=row.collected_at,
    )


async def add(conn: AsyncConnection, entry: NewEntry, *, recorded_at: datetime) -> None:
    await conn.execute(
        insert(s).values(
            message_id=entry.message_id,
            transaction_id=entry.transaction_id,
            home=entry.home,
            lender=entry.lender,
            consortium=entry.consortium,
            kind=entry.kind,
            amount_minor=entry.amount.amount_minor,
            currency=entry.amount.currency,
            rule=entry.rule,
            charged_at=entry.charged_at,
            charged_on=entry.charged_on,
            recorded_at=recorded_at,
        )
    )


async def of_transaction(conn: AsyncConnection, transaction_id: str) -> list[Entry]:
    rows = await conn.execute(
        select(s).where(s.c.transaction_id == transaction_id).order_by(s.c.id)
    )
    return [_entry(r) for r in rows]


async def mark_collected(
    conn: AsyncConnection, entry_id: int, *, at: datetime, message_id: str
) -> None:
    await conn.execute(
        update(s)
        .where(s.c.id == entry_id, s.c.collected_at.is_(None))
        .values(collected_at=at, collected_message_id=message_id)
    )


async def entries(
    conn: AsyncConnection,
    *,
    library: str | None = None,
    counterparty: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[Entry]:
    """The entries charged from ``start`` to ``end`` (both included) that ``library`` is a
    party to (with ``counterparty``, when given): the domain makes statements of them."""
    query = select(s).order_by(s.c.charged_at, s.c.id)
    if library is not None and counterparty is not None:
        query = query.where(
            or_(
                and_(s.c.home == library, s.c.lender == counterparty),
                and_(s.c.home == counterparty, s.c.lender == library),
            )
        )
    elif library is not None or counterparty is not None:
        party = library or counterparty
        query = query.where(or_(s.c.home == party, s.c.lender == party))
    if start is not None:
        query = query.where(s.c.charged_on >= start)
    if end is not None:
        query = query.where(s.c.charged_on <= end)
    return [_entry(r) for r in await conn.execute(query)]
