"""MALA-14: what an account still owes before the patron leaves: its inter-library requests
not finished and their unpaid charges, its own loans and charges, read in one go."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.circulation.adapters import ill_borrowing_repo, ledger_repo, loans_repo
from services.circulation.domain.clearance import Clearance, clearance
from services.circulation.handlers.context import Library


async def clearance_of(conn: AsyncConnection, lib: Library, patron_id: str) -> Clearance:
    return clearance(
        patron_id,
        await ill_borrowing_repo.for_patron(conn, patron_id),
        await loans_repo.active_loans(conn, patron_id),
        await ledger_repo.ledger(conn, patron_id, lib.policy.currency),
    )
