"""Which overdue notice a loan is owed today (HKALL-15, MALA-13), from the policy's schedule.

The home library's daily overdue job asks :func:`overdue_notice_due` for each overdue loan
and, when it answers, sends a ``notice.requested`` of kind ``overdue`` whose ``notice_id``
is :func:`overdue_notice_id`. The id is the same however often the job runs on one day, so
the notifier sends each reminder once; the next reminder has a new id and is sent when the
schedule says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from libs.common.policy.dates import days_overdue
from libs.common.policy.models import OverdueNoticeTerms, Policy

# The notifier keeps a notice id in 64 characters (the NoticeRequested contract).
_MAX_NOTICE_ID = 64


@dataclass(frozen=True)
class OverdueReminder:
    """The overdue notice to send now: its number in the schedule and the day it fell due."""

    number: int  # 1 for the first notice
    day: date
    days_overdue: int
    rule: str | None


def _offsets(terms: OverdueNoticeTerms, days_late: int) -> list[int]:
    """The schedule's offsets (days after the due date) reached by ``days_late``."""
    reached = [offset for offset in terms.days_after_due if offset <= days_late]
    if terms.repeat_every_days is not None and len(reached) == len(terms.days_after_due):
        # Past the listed days: one more notice per interval, computed rather than looped so
        # a loan years overdue costs nothing.
        extra = (days_late - terms.days_after_due[-1]) // terms.repeat_every_days
        last = terms.days_after_due[-1]
        reached += [last + terms.repeat_every_days * k for k in range(1, extra + 1)]
    if terms.max_notices is not None:
        reached = reached[: terms.max_notices]
    return reached


def overdue_notice_due(
    policy: Policy, *, due_date: date, on: date, already_sent: int
) -> OverdueReminder | None:
    """The overdue notice owed on the library day ``on``, or ``None`` when none is.

    ``already_sent`` is the number of the last overdue notice this loan has had (0 for
    none); the caller records the returned ``number`` in its place. When the job missed
    days (the service was down), only the latest reminder reached is sent: the patron gets
    one e-mail saying how late the item is, not a burst of stale ones.
    A policy without an ``[overdue_notices]`` schedule sends none.
    """
    terms = policy.overdue_notices
    if terms is None or already_sent < 0:
        return None
    late = days_overdue(due_date, on)
    if late == 0:
        return None
    reached = _offsets(terms, late)
    if len(reached) <= already_sent:
        return None
    offset = reached[-1]
    return OverdueReminder(
        number=len(reached),
        day=due_date + timedelta(days=offset),
        days_overdue=late,
        rule=terms.rule,
    )


def overdue_notice_id(loan_ref: str, number: int) -> str:
    """A stable notice id for reminder ``number`` of a loan: one e-mail per reminder."""
    if number < 1:
        raise ValueError("reminders are numbered from 1")
    notice_id = f"overdue:{loan_ref}:{number}"
    if len(notice_id) <= _MAX_NOTICE_ID:
        return notice_id
    digest = hashlib.sha256(loan_ref.encode()).hexdigest()[:40]
    return f"overdue:{digest}:{number}"
