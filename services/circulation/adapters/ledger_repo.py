"""The ledger of each account: fines, fees, payments and waivers, only ever added to."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.money import Money
from services.circulation.adapters.counters_repo import next_number
from services.circulation.adapters.store import aware
from services.circulation.adapters.tables import ledger_entries
from services.circulation.domain.ledger import Ledger, LedgerEntry


def _entries_of(_: AsyncConnection):
    return (
        select(ledger_entries)
        .where(ledger_entries.c.patron_id == bindparam("b_patron"))
        .order_by(ledger_entries.c.at, ledger_entries.c.position)
    )


async def ledger(conn: AsyncConnection, patron_id: str, currency: str) -> Ledger:
    # Built once: a checkout, a return and an ILL request each read the patron's account.
    rows = (await hot_sql.run(conn, "ledger of patron", _entries_of, {"b_patron": patron_id})).all()
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
    first = await next_number(conn, "ledger", len(posted))
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
