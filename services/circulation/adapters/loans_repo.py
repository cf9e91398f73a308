"""Loans and renewal transactions (HKPL-06)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.policy import LenderTerms
from services.circulation.adapters.store import aware, save
from services.circulation.adapters.tables import (
    loans,
    renewal_items,
    renewal_transactions,
)
from services.circulation.domain.lending import RenewalTransaction, RenewedItem
from services.circulation.domain.loan import Loan

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


_INSTANTS = ("checked_out_at", "returned_at")


def _loan(row: Any) -> Loan:
    values = {k: getattr(row, k) for k in _LOAN_FIELDS}
    for k in _INSTANTS:
        values[k] = aware(values[k])
    terms = row.lender_terms
    return Loan(
        loan_id=row.id,
        lender_terms=LenderTerms.model_validate(terms) if terms else None,
        **values,
    )


def _values(loan: Loan) -> dict[str, Any]:
    values = {k: getattr(loan, k) for k in _LOAN_FIELDS}
    values["lender_terms"] = (
        loan.lender_terms.model_dump(mode="json") if loan.lender_terms else None
    )
    return values


async def active_loans(conn: AsyncConnection, patron_id: str) -> list[Loan]:
    """Every loan still out on the account, whatever card borrowed it (HKPL-18)."""
    rows = await hot_sql.run(
        conn,
        "active loans of patron",
        lambda _: (
            select(loans)
            .where(loans.c.patron_id == bindparam("b_patron"), loans.c.returned_at.is_(None))
            .order_by(loans.c.checked_out_at, loans.c.id)
        ),
        {"b_patron": patron_id},
    )
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
    def build(_: AsyncConnection) -> Any:
        q = select(loans).where(
            loans.c.item_id == bindparam("b_item"), loans.c.returned_at.is_(None)
        )
        return q.with_for_update() if for_update else q

    key = ("active loan of item", for_update)
    row = (await hot_sql.run(conn, key, build, {"b_item": item_id})).first()
    return _loan(row) if row else None


async def save_loan(conn: AsyncConnection, loan: Loan) -> None:
    await save(conn, loans, {"id": loan.loan_id}, _values(loan))


async def save_active_loan(conn: AsyncConnection, loan: Loan) -> bool:
    """Write back a loan that was read while still out (returned, renewed, charged lost).
    The write only lands while the stored loan is still out: False when another transaction
    ended it in the meantime, so that one return is never carried out twice."""
    res = await hot_sql.run(  # the SET columns: the loan's values
        conn,
        "save active loan",
        lambda _: update(loans).where(
            loans.c.id == bindparam("b_id"), loans.c.returned_at.is_(None)
        ),
        {**_values(loan), "b_id": loan.loan_id},
    )
    return res.rowcount == 1


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
