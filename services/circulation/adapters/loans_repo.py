"""Loans, the items they are of, renewal transactions (HKPL-06) and the counter that numbers
them."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.money import Money
from services.circulation.adapters.store import aware, save
from services.circulation.adapters.tables import (
    counters,
    items,
    loans,
    renewal_items,
    renewal_transactions,
)
from services.circulation.domain.items import Item
from services.circulation.domain.loans import Loan, RenewalTransaction, RenewedItem

_LOAN_FIELDS = (
    "patron_id",
    "item_id",
    "owner_library",
    "title_id",
    "material_type",
    "section",
    "set_id",
    "main_item_id",
    "ill",
    "lender",
    "checked_out_at",
    "checkout_date",
    "due_date",
    "renewals",
    "consecutive_renewals",
    "recalled_on",
    "loss",
    "loss_marked_on",
    "returned_at",
    "returned_to",
    "borrowed_with",
)


def item_of(row: Any, library: str, currency: str) -> Item:
    """The domain item of an ``items`` row."""
    return Item(
        item_id=row.id,
        library=library,
        barcode=row.barcode,
        title_id=row.title_id or row.isbn or row.id,
        title=row.title,
        material_type=row.material_type,
        section=row.section,
        branch=row.service_point,
        call_number=row.call_number,
        price=Money(amount_minor=row.price_minor, currency=currency)
        if row.price_minor is not None
        else None,
        pages=row.pages,
        set_id=row.set_id,
        main_item_id=row.main_item_id if row.set_id else None,
        status=row.status,
    )


async def item_rows(conn: AsyncConnection, item_ids: list[str]) -> dict[str, Any]:
    if not item_ids:
        return {}
    rows = (await conn.execute(select(items).where(items.c.id.in_(item_ids)))).all()
    return {r.id: r for r in rows}


async def find_item_row(
    conn: AsyncConnection, *, item_id: str | None = None, barcode: str | None = None
) -> Any | None:
    q = select(items)
    q = q.where(items.c.id == item_id) if item_id else q.where(items.c.barcode == barcode)
    return (await conn.execute(q)).first()


async def set_rows(conn: AsyncConnection, set_id: str) -> list[Any]:
    return list((await conn.execute(select(items).where(items.c.set_id == set_id))).all())


async def title_rows(conn: AsyncConnection, title_id: str) -> list[Any]:
    return list((await conn.execute(select(items).where(items.c.title_id == title_id))).all())


_INSTANTS = ("checked_out_at", "returned_at")


def _loan(row: Any) -> Loan:
    values = {k: getattr(row, k) for k in _LOAN_FIELDS}
    for k in _INSTANTS:
        values[k] = aware(values[k])
    return Loan(loan_id=row.id, **values)


async def active_loans(conn: AsyncConnection, patron_id: str) -> list[Loan]:
    """Every loan still out on the account, whatever card borrowed it (HKPL-18)."""
    rows = (
        await conn.execute(
            select(loans)
            .where(loans.c.patron_id == patron_id, loans.c.returned_at.is_(None))
            .order_by(loans.c.checked_out_at, loans.c.id)
        )
    ).all()
    return [_loan(r) for r in rows]


async def overdue_loans(conn: AsyncConnection, on: date) -> list[Loan]:
    """Every loan still out whose due date is before the library day ``on``."""
    rows = (
        await conn.execute(
            select(loans)
            .where(loans.c.returned_at.is_(None), loans.c.due_date < on)
            .order_by(loans.c.due_date, loans.c.id)
        )
    ).all()
    return [_loan(r) for r in rows]


async def get_loan(conn: AsyncConnection, loan_id: str, *, for_update: bool = False) -> Loan | None:
    q = select(loans).where(loans.c.id == loan_id)
    row = (await conn.execute(q.with_for_update() if for_update else q)).first()
    return _loan(row) if row else None


async def active_loan_of_item(
    conn: AsyncConnection, item_id: str, *, for_update: bool = False
) -> Loan | None:
    q = select(loans).where(loans.c.item_id == item_id, loans.c.returned_at.is_(None))
    row = (await conn.execute(q.with_for_update() if for_update else q)).first()
    return _loan(row) if row else None


async def save_loan(conn: AsyncConnection, loan: Loan) -> None:
    await save(conn, loans, {"id": loan.loan_id}, {k: getattr(loan, k) for k in _LOAN_FIELDS})


async def save_active_loan(conn: AsyncConnection, loan: Loan) -> bool:
    """Write back a loan that was read while still out (returned, renewed, charged lost).
    The write only lands while the stored loan is still out: False when another transaction
    ended it in the meantime, so that one return is never carried out twice."""
    res = await conn.execute(
        update(loans)
        .where(loans.c.id == loan.loan_id, loans.c.returned_at.is_(None))
        .values(**{k: getattr(loan, k) for k in _LOAN_FIELDS})
    )
    return res.rowcount == 1


async def next_number(conn: AsyncConnection, name: str, count: int = 1) -> int:
    """The next number of a named sequence (the first of ``count`` drawn together), inside
    the caller's transaction. One upsert both creates the counter on first use and draws
    from it: two transactions using a new counter at once queue on its row instead of both
    inserting it (the loser would fail), and the row lock keeps them from drawing the same
    number."""
    upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        upsert(counters)
        .values(name=name, value=count)
        .on_conflict_do_update(
            index_elements=[counters.c.name], set_={"value": counters.c.value + count}
        )
        .returning(counters.c.value)
    )
    last = (await conn.execute(stmt)).scalar_one()
    return last - count + 1


async def add_renewal_transaction(
    conn: AsyncConnection, transaction: RenewalTransaction, renewal_day: date
) -> None:
    await conn.execute(
        insert(renewal_transactions).values(
            reference=transaction.reference,
            patron_id=transaction.patron_id,
            at=transaction.at,
            renewal_day=renewal_day,
        )
    )
    await conn.execute(
        insert(renewal_items),
        [
            {
                "reference": transaction.reference,
                "loan_id": i.loan_id,
                "item_id": i.item_id,
                "new_due_date": i.new_due_date,
            }
            for i in transaction.items
        ],
    )


async def get_renewal_transaction(
    conn: AsyncConnection, reference: str
) -> RenewalTransaction | None:
    row = (
        await conn.execute(
            select(renewal_transactions).where(renewal_transactions.c.reference == reference)
        )
    ).first()
    if row is None:
        return None
    lines = (
        await conn.execute(
            select(renewal_items)
            .where(renewal_items.c.reference == reference)
            .order_by(renewal_items.c.item_id)
        )
    ).all()
    return RenewalTransaction(
        reference=row.reference,
        patron_id=row.patron_id,
        at=aware(row.at),
        items=tuple(
            RenewedItem(loan_id=r.loan_id, item_id=r.item_id, new_due_date=r.new_due_date)
            for r in lines
        ),
    )


async def renewal_references(conn: AsyncConnection, patron_id: str, limit: int = 50) -> list[str]:
    rows = (
        await conn.execute(
            select(renewal_transactions.c.reference)
            .where(renewal_transactions.c.patron_id == patron_id)
            .order_by(renewal_transactions.c.at.desc())
            .limit(limit)
        )
    ).all()
    return [r.reference for r in rows]
