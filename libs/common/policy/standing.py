"""Whether an account is in good standing: the refusals that stop any borrowing or renewal.

Checked here, once, for checkout, requests and renewals alike:
- the account's own blocks: a suspension (HKPL-15 lost card) or cancellation (HKPL-17);
- privileges suspended by the loans themselves: a recalled item overdue (HKALL-18), an item
  whose fine reached its cap (HKALL-19);
- the outstanding-charges ceiling and the overdue time limit (HKPL-03; MALA-10 sets both to
  "anything": every fine paid and every overdue item returned first).

Outstanding charges are the ledger's unpaid charges plus the fines still accruing on items
that are out and overdue: a patron cannot dodge the ceiling by keeping the item.
"""

from __future__ import annotations

from datetime import date

from libs.common.policy.dates import days_overdue
from libs.common.policy.decision import Decision, Refusal
from libs.common.policy.facts import AccountFacts, LoanFacts
from libs.common.policy.fines import loan_fine, max_fine_reached
from libs.common.policy.models import Policy


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def accrued_fine_minor(policy: Policy, loan: LoanFacts, on: date) -> int:
    """Fine an overdue loan has run up so far and that is not yet in the ledger."""
    return loan_fine(policy, loan, on).amount.amount_minor


def outstanding_total_minor(policy: Policy, account: AccountFacts, on: date) -> int:
    """Unpaid charges plus fines accruing on the overdue items still out."""
    return account.outstanding_minor + sum(
        accrued_fine_minor(policy, loan, on) for loan in account.loans
    )


def block_refusals(account: AccountFacts, action: str) -> list[Refusal]:
    """The account's suspensions and cancellation, each with the rule that caused it."""
    return [
        Refusal(rule=b.rule, code=b.code, action=action, reason=b.reason) for b in account.blocks
    ]


def suspension_refusals(
    policy: Policy, account: AccountFacts, on: date, action: str
) -> list[Refusal]:
    """Privileges suspended by the state of the loans (HKALL-18, HKALL-19)."""
    terms = policy.suspensions
    refusals: list[Refusal] = []
    if terms.recalled_overdue is not None:
        for loan in account.loans:
            if loan.recalled and on > loan.due_date:
                refusals.append(
                    Refusal(
                        rule=terms.recalled_overdue,
                        code="recalled_item_overdue",
                        action=action,
                        reason="borrowing privileges are suspended because a recalled item "
                        "is overdue",
                        item_id=loan.item_id,
                    )
                )
    if terms.max_fine_reached is not None:
        for loan in account.loans:
            if max_fine_reached(policy, loan, on):
                refusals.append(
                    Refusal(
                        rule=terms.max_fine_reached,
                        code="max_fine_reached",
                        action=action,
                        reason="borrowing privileges are suspended because an overdue item "
                        "has reached the maximum fine",
                        item_id=loan.item_id,
                    )
                )
    return refusals


def charges_refusals(
    policy: Policy,
    *,
    outstanding_minor: int,
    oldest_unpaid_charge_on: date | None,
    on: date,
    action: str,
) -> list[Refusal]:
    """The outstanding-charges ceiling and the time limit on unpaid charges (HKPL-03,
    MALA-10). Usable with a ledger alone, before any loan is looked at."""
    limits = policy.account_limits
    if limits is None:
        return []
    refusals: list[Refusal] = []
    ceiling = limits.charges_ceiling_minor
    if ceiling is not None and outstanding_minor > 0 and outstanding_minor >= ceiling:
        if ceiling <= 1:
            reason = (
                f"the account has unpaid charges of {policy.money(outstanding_minor)}, "
                "which must be settled first"
            )
        else:
            reason = (
                f"the outstanding charges on the account ({policy.money(outstanding_minor)}) "
                f"have reached the limit of {policy.money(ceiling)}"
            )
        refusals.append(
            Refusal(rule=limits.rule, code="charges_ceiling", action=action, reason=reason)
        )
    limit_days = limits.overdue_time_limit_days
    if limit_days is not None and oldest_unpaid_charge_on is not None:
        unpaid_for = (on - oldest_unpaid_charge_on).days
        if unpaid_for > limit_days:
            refusals.append(
                Refusal(
                    rule=limits.rule,
                    code="charges_unpaid_too_long",
                    action=action,
                    reason=f"a charge on the account has been unpaid for more than "
                    f"{_plural(limit_days, 'day')}",
                )
            )
    return refusals


def overdue_limit_refusals(
    policy: Policy, account: AccountFacts, on: date, action: str
) -> list[Refusal]:
    """An item on the account has passed the overdue time limit (HKPL-03, MALA-10)."""
    limits = policy.account_limits
    if limits is None or limits.overdue_time_limit_days is None:
        return []
    limit_days = limits.overdue_time_limit_days
    refusals = []
    for loan in account.loans:
        late = days_overdue(loan.due_date, on)
        if late > limit_days:
            if limit_days == 0:
                reason = (
                    f"an item on the account is overdue ({_plural(late, 'day')}) and must be "
                    "returned first"
                )
            else:
                reason = (
                    f"an item on the account is {_plural(late, 'day')} overdue, past the "
                    f"overdue time limit of {_plural(limit_days, 'day')}"
                )
            refusals.append(
                Refusal(
                    rule=limits.rule,
                    code="overdue_time_limit",
                    action=action,
                    reason=reason,
                    item_id=loan.item_id,
                )
            )
    return refusals


def standing_refusals(
    policy: Policy, account: AccountFacts, on: date, action: str
) -> list[Refusal]:
    """Every account-level refusal for ``action`` on the library day ``on``."""
    return [
        *block_refusals(account, action),
        *suspension_refusals(policy, account, on, action),
        *charges_refusals(
            policy,
            outstanding_minor=outstanding_total_minor(policy, account, on),
            oldest_unpaid_charge_on=account.oldest_unpaid_charge_on,
            on=on,
            action=action,
        ),
        *overdue_limit_refusals(policy, account, on, action),
    ]


def charges_decision(
    policy: Policy,
    *,
    outstanding_minor: int,
    oldest_unpaid_charge_on: date | None,
    on: date,
    action: str = "checkout",
) -> Decision:
    """The outstanding-charges ceiling and unpaid-charge time limit alone, from a ledger's
    figures (HKPL-03, MALA-10)."""
    return Decision.of(
        action,
        charges_refusals(
            policy,
            outstanding_minor=outstanding_minor,
            oldest_unpaid_charge_on=oldest_unpaid_charge_on,
            on=on,
            action=action,
        ),
    )
