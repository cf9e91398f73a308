"""What a lender decides about its item while another library's patron has it (ILL.md,
"After the checkout"), as pure code: a renewal asked of it, and a recall.

The lender is the authority over its item: a renewal is decided by its own policy and its own
users' holds and recalls (HKALL-12, HKALL-13, MALA-05), a recall's date by its policy and the
day the patron took the item home (HKALL-11, MALA-06). The home library only applies what the
lender answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from libs.common.contracts.ill import IllRefusal
from libs.common.policy import (
    AccountFacts,
    LoanFacts,
    Policy,
    Refusal,
    item_refusals,
    recall_due_date,
    renewal_due_date,
)


@dataclass(frozen=True)
class LentCopy:
    """The lender's loan of its copy, as it knows it (no patron, only the category)."""

    transaction_id: str
    item_id: str
    patron_category: str
    shipped_on: date
    due_date: date
    renewals: int = 0
    recalled: bool = False
    #: HKALL-11: the day the patron took it home (the requester's CheckedOut)
    checked_out_on: date | None = None
    #: HKALL-12: one of the lender's own users holds the title
    local_hold: bool = False

    @property
    def loan_start(self) -> date:
        """The day the loan's periods count from: the lender lent it the day it shipped."""
        return self.shipped_on


@dataclass(frozen=True)
class RenewalAnswer:
    """Yes with the new due date, or no with the rule that refused, in plain words."""

    approved: bool
    due_date: date
    refusal: IllRefusal | None = None


def renewal_answer(policy: Policy, copy: LentCopy, asked_on: date) -> RenewalAnswer:
    """The lender's answer to a renewal the home library asked on ``asked_on`` (the day the
    patron asked, not the day the message arrived: MALA-05 asks before the due date).

    HKALL-12: 30- or 15-day loans renew up to 90 or 45 days in all from the checkout, never
    while a local user of the lender has a hold or a recall on it. HKALL-13: the lender
    approves. MALA-05: one renewal, asked for before the due date."""
    loan = LoanFacts(
        loan_id=copy.transaction_id,
        item_id=copy.item_id,
        checkout_date=copy.loan_start,
        due_date=copy.due_date,
        renewals=copy.renewals,
        consecutive_renewals=copy.renewals,
        recalled=copy.recalled,
        ill=True,
        hold_by_other=copy.local_hold,
    )
    account = AccountFacts(patron_category=copy.patron_category, loans=(loan,))
    # Only the item's own conditions: the patron's standing is the home library's to judge
    # (it asks only for a patron in good standing), and the lender knows no account.
    refusals = item_refusals(policy, account, loan, asked_on)
    if not refusals:
        new_due = renewal_due_date(
            policy,
            renewal_day=asked_on,
            due_date=copy.due_date,
            checkout_date=copy.loan_start,
            patron_category=copy.patron_category,
        )
        if new_due > copy.due_date:
            return RenewalAnswer(True, new_due)
        refusals = [
            Refusal(
                rule=policy.renewals.rule,
                code="renewal_would_not_extend",
                action="renewal",
                reason=f"the item is already due on {copy.due_date:%d %B %Y}; renewing it "
                "now would not extend the loan",
                item_id=copy.item_id,
            )
        ]
    first = refusals[0]
    reason = "; ".join(r.reason for r in refusals)
    return RenewalAnswer(False, copy.due_date, IllRefusal(rule=first.rule, reason=reason[:500]))


def recall_date(policy: Policy, copy: LentCopy, recall_day: date) -> date:
    """HKALL-11: the new due date keeps the minimum use period from the patron's checkout
    (15 days) and never extends the current due date; otherwise the recall day plus the
    policy's return interval. MALA-06: the lender may recall at any time, with a date to
    return by."""
    return recall_due_date(
        policy,
        checkout_date=copy.checked_out_on or copy.shipped_on,
        due_date=copy.due_date,
        recall_day=recall_day,
    )
