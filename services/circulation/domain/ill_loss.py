"""The home library's patron loses, damages or claims to have returned another library's item
(ILL.md, "After the checkout"), as pure code: what the lender's charge becomes on the
patron's account, and how the patron's loan of the lender's item ends.

- The lender prices a lost or damaged item by its own policy (HKALL-20, MALA-11); the home
  library posts that charge to its patron's ledger, naming the lender and the transaction.
- A lost item's charge ends the loan without a return: with its overdue fine to the day,
  capped as the lender's terms say (the item never came back, so HKALL-17 does not lift the
  cap).
- An item reported lost or claimed returned that the lender checks in after all ends the
  loan as a return: its fine is not capped (HKALL-17), and a claimed return stops the fine
  on the day of the claim.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Literal

from libs.common.money import Money
from libs.common.policy import Policy, loan_fine_at
from services.circulation.domain.events import DomainEvent
from services.circulation.domain.ledger import Ledger, LedgerEntry, fine_entry
from services.circulation.domain.lending import charge_posted
from services.circulation.domain.loan import Loan

ChargeKind = Literal["lost_item", "damaged_item"]
_WHAT = {"lost_item": "lost", "damaged_item": "damaged"}


def lender_charge_entry(
    patron_id: str,
    *,
    kind: ChargeKind,
    amount: Money,
    rule: str | None,
    lender: str,
    transaction_id: str,
    at: datetime,
    on: date,
    loan_id: str | None,
    item_id: str | None,
    detail: str | None = None,
) -> LedgerEntry:
    """The lender's charge for its item (HKALL-20, MALA-11) as the patron's ledger entry,
    naming the lender and the inter-library loan it is for."""
    words = f"charged by {lender} for its {_WHAT[kind]} item (inter-library loan {transaction_id})"
    if detail:
        words = f"{words}: {detail}"
    return LedgerEntry(
        patron_id=patron_id,
        kind=kind,
        amount=amount,
        at=at,
        on=on,
        rule=rule,
        loan_id=loan_id,
        item_id=item_id,
        description=words[:500],
    )


def end_charged_loan(
    policy: Policy, loan: Loan, *, at: datetime
) -> tuple[Loan, LedgerEntry | None, tuple[DomainEvent, ...]]:
    """The loan of a lost item, ended by the lender's charge: its overdue fine up to ``at``
    at the lender's rates, capped as while it was out (HKALL-16, MALA-08; not recovered, so
    HKALL-17 does not apply)."""
    today = policy.local_date(at)
    fine = loan_fine_at(policy, loan.facts(), at)
    entry = fine_entry(
        loan.patron_id, fine, at=at, on=today, loan_id=loan.loan_id, item_id=loan.item_id
    )
    ended = loan.model_copy(
        update={
            "returned_at": at,
            "loss": "lost",
            "loss_marked_on": loan.loss_marked_on if loan.loss == "lost" else today,
        }
    )
    return ended, entry, (charge_posted(entry),) if entry is not None else ()


def fully_paid(ledger: Ledger, entry_ids: Iterable[str]) -> set[str]:
    """Which of these charges nothing is owed on any more (paid, or paid and waived)."""
    left = ledger.remaining()
    return {e for e in entry_ids if e in left and left[e] == 0}
