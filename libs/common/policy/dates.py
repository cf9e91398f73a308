"""Due dates, days overdue, pickup deadlines, recall dates and assumed-lost dates.

Days are the library's calendar days (local time of the policy's timezone). A loan is due by
the end of its due date; "per day or part thereof" means any part of a day after it counts as
a whole day, so an item returned at 00:05 the day after its due date is one day late.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from libs.common.policy.facts import LoanFacts
from libs.common.policy.models import Policy
from libs.common.policy.vocabulary import MaterialType


def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, or the month's last day if it is shorter."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def loan_days(
    policy: Policy, *, patron_category: str | None = None, material_type: MaterialType = "book"
) -> int:
    """Days a new loan runs: the patron category's period (HKALL-08), else the material
    type's, else the default (HKPL-01: 14; MALA-04: 14)."""
    category = policy.category(patron_category)
    if category is not None and category.loan_days is not None:
        return category.loan_days
    return policy.loans.by_material_type.get(material_type, policy.loans.default_days)


def checkout_due_date(
    policy: Policy,
    checkout_day: date,
    *,
    patron_category: str | None = None,
    material_type: MaterialType = "book",
) -> date:
    """Due date of a loan made on ``checkout_day``.

    HKPL-01: within 14 days after the day of borrowing, so borrowed on the 1st, due on the 15th.
    """
    days = loan_days(policy, patron_category=patron_category, material_type=material_type)
    return checkout_day + timedelta(days=days)


def renewal_due_date(
    policy: Policy,
    *,
    renewal_day: date,
    due_date: date,
    checkout_date: date,
    patron_category: str | None = None,
    material_type: MaterialType = "book",
) -> date:
    """New due date if the loan is renewed on ``renewal_day``.

    HKPL-02: 14 days counted from the day of renewal, not from the old due date (due on the
    8th, renewed on the 6th: due on the 20th). HKALL-12: never beyond the longest period the
    patron category allows in all, counted from the checkout day. A renewal never brings the
    due date forward: an early renewal with a short period keeps the old due date.
    """
    terms = policy.renewals
    days = terms.period_days or loan_days(
        policy, patron_category=patron_category, material_type=material_type
    )
    start = renewal_day if terms.counted_from == "renewal_day" else max(due_date, renewal_day)
    candidate = start + timedelta(days=days)
    longest = longest_due_date(policy, checkout_date=checkout_date, patron_category=patron_category)
    if longest is not None:
        candidate = min(candidate, longest)
    return max(candidate, due_date)


def longest_due_date(
    policy: Policy, *, checkout_date: date, patron_category: str | None = None
) -> date | None:
    """The latest due date renewals may reach (HKALL-12: 90 or 45 days in all), if any."""
    category = policy.category(patron_category)
    if category is None or category.max_total_loan_days is None:
        return None
    return checkout_date + timedelta(days=category.max_total_loan_days)


def days_overdue(due_date: date, on: date) -> int:
    """Whole days late on the library day ``on``; zero on or before the due date."""
    return max(0, (on - due_date).days)


def days_overdue_at(policy: Policy, due_date: date, at: datetime) -> int:
    """Days late at an instant: any started day after the due date counts as a whole day."""
    return days_overdue(due_date, policy.local_date(at))


def is_overdue(loan: LoanFacts, on: date) -> bool:
    return on > loan.due_date


def pickup_deadline(policy: Policy, notified_on: date) -> date:
    """Last day an item waiting on the pickup shelf can be collected.

    HKALL-06: 5 days from the notification date, so notified on the 1st, collect by the 6th.
    """
    return notified_on + timedelta(days=policy.pickup.days)


def recall_due_date(
    policy: Policy, *, checkout_date: date, due_date: date, recall_day: date
) -> date:
    """Due date after a recall placed on ``recall_day``.

    HKALL-11: the due date may be shortened, but the borrower keeps a minimum use period of
    15 days from checkout. MALA-06: the lender gives a date to return by. A recall never
    lengthens a loan.
    """
    terms = policy.recalls
    if terms is None:
        raise ValueError(f"policy {policy.name!r} has no recalls")
    asked = recall_day + timedelta(days=terms.return_within_days)
    minimum = checkout_date + timedelta(days=terms.minimum_use_days)
    return min(due_date, max(asked, minimum))
