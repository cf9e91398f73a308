"""Overdue notices repeat on a schedule the policy sets (HKALL-15, MALA-13)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from libs.common.policy import load_policy
from libs.common.policy.models import OverdueNoticeTerms
from libs.common.policy.overdue_notices import overdue_notice_due, overdue_notice_id

DUE = date(2026, 11, 20)


def _run_daily_job(policy_name: str, days: int) -> list[tuple[int, int]]:
    """What a home library's daily job sends over ``days``: (days late, reminder number)."""
    policy = load_policy(policy_name)
    sent, mails = 0, []
    for offset in range(days + 1):
        reminder = overdue_notice_due(
            policy, due_date=DUE, on=DUE + timedelta(days=offset), already_sent=sent
        )
        if reminder is not None:
            mails.append((reminder.days_overdue, reminder.number))
            sent = reminder.number
    return mails


def test_hkall_15_overdue_notices_the_day_after_due_then_one_and_two_weeks_late() -> None:
    """HKALL-15, with the schedule in deploy/policies/hkall.toml; the reminders stop once
    the maximum fine is reached and the book is assumed lost (HKALL-19)."""
    assert _run_daily_job("hkall", 60) == [(1, 1), (7, 2), (14, 3)]


def test_mala_13_the_home_library_chases_weekly_until_the_item_counts_as_lost() -> None:
    """MALA-13: weekly from the day after the due date, five in all (MALA-09: lost after a
    month)."""
    assert _run_daily_job("mala", 60) == [(1, 1), (8, 2), (15, 3), (22, 4), (29, 5)]


def test_hkpl_reminders_end_before_the_overdue_time_limit_hkpl_03() -> None:
    mails = _run_daily_job("hkpl", 120)
    assert mails == [(1, 1), (7, 2), (21, 3), (35, 4), (49, 5)]
    assert all(late < 60 for late, _ in mails)


def test_hkall_15_nothing_is_owed_on_or_before_the_due_date_or_twice_on_one_day() -> None:
    hkall = load_policy("hkall")
    assert overdue_notice_due(hkall, due_date=DUE, on=DUE, already_sent=0) is None
    assert (
        overdue_notice_due(hkall, due_date=DUE, on=DUE - timedelta(days=3), already_sent=0) is None
    )
    first = overdue_notice_due(hkall, due_date=DUE, on=DUE + timedelta(days=1), already_sent=0)
    assert first is not None
    assert (first.number, first.day, first.rule) == (1, DUE + timedelta(days=1), "HKALL-15")
    # The job runs again the same day, after the first notice went: nothing more.
    assert (
        overdue_notice_due(hkall, due_date=DUE, on=DUE + timedelta(days=1), already_sent=1) is None
    )


def test_hkall_15_after_missed_days_only_the_latest_reminder_goes() -> None:
    """A job that did not run for a week sends one notice saying how late the book is."""
    hkall = load_policy("hkall")
    reminder = overdue_notice_due(hkall, due_date=DUE, on=DUE + timedelta(days=9), already_sent=0)
    assert reminder is not None
    assert (reminder.number, reminder.days_overdue) == (2, 9)


def test_a_policy_without_a_schedule_sends_no_overdue_notices() -> None:
    hkall = load_policy("hkall")
    silent = hkall.model_copy(update={"overdue_notices": None})
    assert (
        overdue_notice_due(silent, due_date=DUE, on=DUE + timedelta(days=5), already_sent=0) is None
    )


def test_a_loan_years_overdue_is_answered_without_walking_every_day() -> None:
    terms = OverdueNoticeTerms(days_after_due=(1,), repeat_every_days=1)
    policy = load_policy("hkall").model_copy(update={"overdue_notices": terms})
    reminder = overdue_notice_due(
        policy, due_date=DUE, on=DUE + timedelta(days=3650), already_sent=0
    )
    assert reminder is not None and reminder.number == 3650


@pytest.mark.parametrize(
    "values",
    [
        {"days_after_due": ()},
        {"days_after_due": (7, 1)},
        {"days_after_due": (1, 1)},
        {"days_after_due": (0,)},
        {"days_after_due": (1, 7, 14), "max_notices": 2},
        {"days_after_due": (1,), "surprise": True},
    ],
)
def test_a_nonsense_schedule_is_refused_when_the_policy_loads(values: dict) -> None:
    with pytest.raises(ValidationError):
        OverdueNoticeTerms(**values)


def test_hkall_15_each_reminder_has_its_own_stable_notice_id() -> None:
    """The same id however often the daily job runs: the notifier sends it once."""
    assert overdue_notice_id("eduhk:loan-7", 1) == "overdue:eduhk:loan-7:1"
    assert overdue_notice_id("eduhk:loan-7", 1) == overdue_notice_id("eduhk:loan-7", 1)
    assert overdue_notice_id("eduhk:loan-7", 2) != overdue_notice_id("eduhk:loan-7", 1)
    long_ref = "x" * 100
    assert len(overdue_notice_id(long_ref, 12)) <= 64
    assert overdue_notice_id(long_ref, 12) != overdue_notice_id(long_ref, 13)
    with pytest.raises(ValueError):
        overdue_notice_id("eduhk:loan-7", 0)
