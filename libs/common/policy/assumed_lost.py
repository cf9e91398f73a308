"""When an overdue loan is treated as lost (HKALL-19, MALA-09)."""

from __future__ import annotations

from datetime import date, timedelta

from libs.common.policy.dates import add_months
from libs.common.policy.facts import LoanFacts
from libs.common.policy.fines import days_to_max_fine
from libs.common.policy.models import Policy


def assumed_lost_on(policy: Policy, loan: LoanFacts) -> date | None:
    """The first day an overdue loan counts as lost, or ``None`` if the policy never says so.

    HKALL-19: once the maximum fine is reached (at $2 a day and a $30 cap: 15 days late).
    MALA-09: overdue by more than one month (due on 10 March: lost from 11 April).
    """
    terms = policy.assumed_lost
    if terms is None:
        return None
    candidates: list[date] = []
    if terms.when_max_fine_reached:
        days = days_to_max_fine(
            policy, section=loan.section, recalled=loan.recalled, lender_terms=loan.lender_terms
        )
        if days is not None:
            candidates.append(loan.due_date + timedelta(days=days))
    if terms.overdue_more_than_months is not None:
        limit = add_months(loan.due_date, terms.overdue_more_than_months)
        candidates.append(limit + timedelta(days=1))
    if terms.overdue_more_than_days is not None:
        candidates.append(loan.due_date + timedelta(days=terms.overdue_more_than_days + 1))
    return min(candidates) if candidates else None


def is_assumed_lost(policy: Policy, loan: LoanFacts, on: date) -> bool:
    """Whether the loan counts as lost on the library day ``on`` (HKALL-19, MALA-09)."""
    first_day = assumed_lost_on(policy, loan)
    return first_day is not None and on >= first_day
