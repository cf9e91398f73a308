"""How the lender's word settles the patron's loan of its item at the home library (ILL.md,
"After the checkout"), once the requester's transaction has taken the step:

- ``charged`` (the lender's ``CompletedWithoutReturn``, HKALL-20, MALA-11): the charge is
  posted to the patron's ledger naming the lender and the transaction, the loan ends with
  its fine to the day (capped as the lender's terms say), the visiting item leaves.
- a damaged item's charge (a Notification with a charge): posted; the loan goes on.
- ``loan_completed`` from Lost or ClaimedReturned (the lender checked the item in after
  all): the loan ends as a return, its fine uncapped (HKALL-17) and, for a claimed return,
  run only to the day of the claim.

The patron is told of the charge by the transition's own notice (``ill_charged``); a fine
posted here is told as any fine is.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.money import Money
from services.circulation.adapters import ill_borrowing_repo as repo
from services.circulation.adapters import items_repo, ledger_repo, loans_repo
from services.circulation.domain import lending
from services.circulation.domain.ill_loss import end_charged_loan, lender_charge_entry
from services.circulation.domain.ill_requester import RequesterState, Transition
from services.circulation.domain.loan import Loan
from services.circulation.handlers.context import Library
from services.circulation.handlers.notices import notify_events
from services.circulation.handlers.patrons import load_patron

log = structlog.get_logger("illfed.circulation.ill_loan_end")
S = RequesterState
#: the visiting copy once it has left for good (it came back to its lender, or is lost)
VISIT_ENDED = "WITHDRAWN"
#: from these, a lender's check-in means the item was found (HKALL-17)
_RECOVERED_FROM = (S.LOST, S.CLAIMED_RETURNED)


async def after_lender(
    conn: AsyncConnection, lib: Library, row: dict[str, Any], outcome: Transition
) -> None:
    """Settle the patron's loan after ``outcome`` (already applied to ``row``, the
    transaction as it was before)."""
    if "charge_minor" in outcome.updates and outcome.step in ("charged", "note"):
        await _post_charge(conn, lib, row, outcome)
    elif outcome.step == "loan_completed" and outcome.state in _RECOVERED_FROM:
        await _end_found(conn, lib, row)


async def _active_loan(conn: AsyncConnection, lib: Library, row: dict[str, Any]) -> Loan | None:
    if not row["loan_id"]:
        return None
    # The account first, then the loan, as every loan-ending operation takes them.
    await load_patron(conn, lib, row["patron_id"], for_update=True)
    loan = await loans_repo.get_loan(conn, row["loan_id"], for_update=True)
    return loan if loan is not None and loan.active else None


async def _post_charge(
    conn: AsyncConnection, lib: Library, row: dict[str, Any], outcome: Transition
) -> None:
    u = outcome.updates
    txn = row["transaction_id"]
    amount = Money(amount_minor=u["charge_minor"], currency=u["charge_currency"])
    if amount.currency != lib.policy.currency:
        # One ledger per account, in the library's currency: a charge in another cannot
        # be posted to it; it stays on the transaction for staff to settle by hand.
        log.warning("ill charge in another currency not posted", txn=txn, currency=amount.currency)
        return
    lost = outcome.step == "charged"
    loan = await _active_loan(conn, lib, row)
    if loan is None and row["loan_id"]:
        loan = await loans_repo.get_loan(conn, row["loan_id"])
    now, today = lib.now(), lib.today()
    entry = lender_charge_entry(
        row["patron_id"],
        kind=u["charge_kind"],
        amount=amount,
        rule=u.get("charge_rule"),
        lender=row["lender"] or "the lending library",
        transaction_id=txn,
        at=now,
        on=today,
        loan_id=loan.loan_id if loan else None,
        item_id=row["item_id"],
    )
    fine = None
    events: tuple = ()
    if lost and loan is not None and loan.active:
        ended, fine, events = end_charged_loan(lib.policy, loan, at=now)
        await loans_repo.save_active_loan(conn, ended)
    await ledger_repo.add_entries(conn, fine, entry)
    await repo.update_fields(conn, txn, now, charge_entry_id=entry.entry_id)
    if lost and row["item_id"]:
        # The lender keeps its loss; the visiting copy is no longer here (its row stays:
        # the loan names it). The quota came back with the step (HKALL-08/09, MALA-02).
        await items_repo.set_status(conn, lib.code, row["item_id"], VISIT_ENDED, lib.clock)
    if events:
        patron = await load_patron(conn, lib, row["patron_id"])
        await notify_events(conn, lib, {patron.patron_id: patron}, events)


async def _end_found(conn: AsyncConnection, lib: Library, row: dict[str, Any]) -> None:
    loan = await _active_loan(conn, lib, row)
    if loan is None:
        return  # returned at the desk before the lender checked it in
    item_row = await items_repo.find_item_row(conn, item_id=loan.item_id)
    assert item_row is not None, "the loan names the visiting copy"
    item = items_repo.item_of(item_row, lib.code, lib.policy.currency)
    # HKALL-17: an item once lost or claimed returned that comes back has no fine cap; a
    # claimed return stops the fine on the day of the claim (the loan's facts say both).
    result = lending.return_loan(lib.policy, loan, item, at=lib.now())
    await loans_repo.save_active_loan(conn, result.loan)
    await ledger_repo.add_entries(conn, result.fine_entry)
    patron = await load_patron(conn, lib, row["patron_id"])
    await notify_events(
        conn, lib, {patron.patron_id: patron}, result.events, titles={item.item_id: row["title"]}
    )


def loss_view(row: dict[str, Any]) -> dict[str, Any]:
    """What the request's view shows of a loss and the lender's charge."""
    charge = None
    if row.get("charge_minor") is not None:
        charge = {
            "amount_minor": row["charge_minor"],
            "currency": row["charge_currency"],
            "kind": row["charge_kind"],
            "rule": row["charge_rule"],
            "entry_id": row["charge_entry_id"],
            "paid_at": row["charge_paid_at"],
        }
    return {"loss_reported_on": row.get("loss_reported_on"), "charge": charge}
