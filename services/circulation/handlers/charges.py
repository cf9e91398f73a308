"""The account's ledger: statements, payments and waivers, each with who and why."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.policy import Decision
from services.circulation.adapters import ledger_repo
from services.circulation.domain.guarantee import payment_refusal
from services.circulation.domain.ledger import Ledger, LedgerEntry, payment_entry, waiver_entry
from services.circulation.handlers import ill_loss
from services.circulation.handlers.context import Invalid, Library, NotFound, Refused
from services.circulation.handlers.patrons import load_patron


async def statement(conn: AsyncConnection, lib: Library, patron_id: str) -> Ledger:
    await load_patron(conn, lib, patron_id)
    return await ledger_repo.ledger(conn, patron_id, lib.policy.currency)


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
    paid_by: str | None = None,
) -> tuple[LedgerEntry, Ledger]:
    """Record a payment or a waiver. Neither may exceed what is owed (a waiver neither what
    its charge still owes), so no account is ever in credit by mistake.

    HKPL-16: a payment may be made by the borrower's linked guarantor; ``paid_by`` records
    who paid when it is not the account holder."""
    patron = await load_patron(conn, lib, patron_id, for_update=True)
    if paid_by == patron_id:
        paid_by = None
    if paid_by is not None:
        if kind != "payment":
            raise Invalid("only a payment is made by someone")
        if (refusal := payment_refusal(patron, paid_by)) is not None:
            raise Refused(Decision.of("payment", [refusal]), 422)
    ledger = await ledger_repo.ledger(conn, patron_id, lib.policy.currency)
    if applies_to is not None and applies_to not in {c.entry_id for c in ledger.charges()}:
        raise NotFound(f"no charge {applies_to} on this account")
    owed = ledger.outstanding_minor()
    if amount_minor > owed:
        raise Invalid(
            f"the {kind} of {lib.policy.money(amount_minor)} exceeds what is owed "
            f"({lib.policy.money(owed)})"
        )
    money = lib.policy.money(amount_minor)
    when = {"at": lib.now(), "on": lib.today(), "applies_to": applies_to}
    if kind == "payment":
        entry = payment_entry(patron_id, money, actor=actor, reason=reason, paid_by=paid_by, **when)
    else:
        entry = waiver_entry(patron_id, money, actor=actor, reason=reason, **when)
    try:
        ledger = ledger.post(entry)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    await ledger_repo.add_entries(conn, entry)
    if kind == "payment":
        # MALA-13: a lender's charge paid in full here is told to the lender
        await ill_loss.charges_paid(conn, lib, patron_id, ledger)
    return entry, ledger
