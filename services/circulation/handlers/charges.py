"""The account's ledger: statements, payments and waivers, each with who and why."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.circulation.adapters import holds_repo
from services.circulation.domain.ledger import Ledger, LedgerEntry, payment_entry, waiver_entry
from services.circulation.handlers.context import Invalid, Library, NotFound
from services.circulation.handlers.patrons import load_patron


async def statement(conn: AsyncConnection, lib: Library, patron_id: str) -> Ledger:
    await load_patron(conn, lib, patron_id)
    return await holds_repo.ledger(conn, patron_id, lib.policy.currency)


async def settle(
    conn: AsyncConnection,
    lib: Library,
    patron_id: str,
    *,
    kind: str,
    amount_minor: int,
    actor: str,
    reason: str,
    applies_to: str | None,
) -> tuple[LedgerEntry, Ledger]:
    """Record a payment or a waiver. Neither may exceed what is owed (a waiver neither what
    its charge still owes), so no account is ever in credit by mistake."""
    await load_patron(conn, lib, patron_id, for_update=True)
    ledger = await holds_repo.ledger(conn, patron_id, lib.policy.currency)
    if applies_to is not None and applies_to not in {c.entry_id for c in ledger.charges()}:
        raise NotFound(f"no charge {applies_to} on this account")
    owed = ledger.outstanding_minor()
    if amount_minor > owed:
        raise Invalid(
            f"the {kind} of {lib.policy.money(amount_minor)} exceeds what is owed "
            f"({lib.policy.money(owed)})"
        )
    make = payment_entry if kind == "payment" else waiver_entry
    entry = make(
        patron_id,
        lib.policy.money(amount_minor),
        actor=actor,
        reason=reason,
        at=lib.now(),
        on=lib.today(),
        applies_to=applies_to,
    )
    try:
        ledger = ledger.post(entry)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    await holds_repo.add_entries(conn, entry)
    return entry, ledger
