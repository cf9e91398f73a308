"""Due dates on checkout and renewal, pickup deadlines and recall dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.common.policy import (
    add_months,
    checkout_due_date,
    load_policy,
    pickup_deadline,
    recall_due_date,
    renewal_due_date,
)

POLICIES = {name: load_policy(name) for name in ("hkpl", "hkall", "mala")}
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
categories = st.sampled_from([None, "academic_staff", "postgraduate", "student", "other_staff"])


def test_hkpl_01_due_14_days_after_the_day_of_borrowing(hkpl):
    assert checkout_due_date(hkpl, date(2026, 3, 1)) == date(2026, 3, 15)
    assert checkout_due_date(hkpl, date(2026, 12, 25)) == date(2027, 1, 8)


def test_hkpl_02_seed_example_due_8th_renewed_6th_new_due_20th(hkpl):
    new_due = renewal_due_date(
        hkpl,
        renewal_day=date(2026, 5, 6),
        due_date=date(2026, 5, 8),
        checkout_date=date(2026, 4, 24),
    )
    assert new_due == date(2026, 5, 20)  # not the 22nd: counted from the renewal day


def test_hkpl_02_overdue_renewal_counts_from_the_renewal_day(hkpl):
    new_due = renewal_due_date(
        hkpl,
        renewal_day=date(2026, 5, 12),
        due_date=date(2026, 5, 8),
        checkout_date=date(2026, 4, 24),
    )
    assert new_due == date(2026, 5, 26)


@pytest.mark.parametrize(
    ("category", "days_"),
    [("academic_staff", 30), ("postgraduate", 30), ("student", 15), ("other_staff", 15)],
)
def test_hkall_08_loan_period_by_category(hkall, category, days_):
    start = date(2026, 3, 2)
    assert checkout_due_date(hkall, start, patron_category=category) == start + timedelta(days_)


def test_mala_04_loan_period_14_days(mala):
    assert checkout_due_date(mala, date(2026, 3, 2)) == date(2026, 3, 16)


def test_hkall_12_renewal_never_beyond_45_days_in_all_for_a_15_day_loan(hkall):
    checkout = date(2026, 3, 1)
    first = renewal_due_date(
        hkall,
        renewal_day=date(2026, 3, 15),
        due_date=date(2026, 3, 16),
        checkout_date=checkout,
        patron_category="student",
    )
    assert first == date(2026, 3, 30)
    second = renewal_due_date(
        hkall,
        renewal_day=date(2026, 4, 5),
        due_date=date(2026, 4, 10),
        checkout_date=checkout,
        patron_category="student",
    )
    assert second == checkout + timedelta(days=45)


def test_hkall_12_thirty_day_loans_reach_90_days_in_all(hkall):
    checkout = date(2026, 3, 1)
    new_due = renewal_due_date(
        hkall,
        renewal_day=date(2026, 5, 20),
        due_date=date(2026, 5, 25),
        checkout_date=checkout,
        patron_category="academic_staff",
    )
    assert new_due == checkout + timedelta(days=90)


def test_hkall_06_five_days_from_the_notification_date(hkall):
    assert pickup_deadline(hkall, date(2026, 3, 1)) == date(2026, 3, 6)


def test_hkall_11_recall_keeps_a_minimum_use_period_of_15_days(hkall):
    checkout = date(2026, 3, 1)
    # recalled on day 3: the new due date may not come before day 15 of use
    assert recall_due_date(
        hkall, checkout_date=checkout, due_date=date(2026, 3, 31), recall_day=date(2026, 3, 3)
    ) == date(2026, 3, 16)
    # recalled on day 20: return within the recall period, earlier than the old due date
    assert recall_due_date(
        hkall, checkout_date=checkout, due_date=date(2026, 3, 31), recall_day=date(2026, 3, 20)
    ) == date(2026, 3, 27)


def test_recall_never_lengthens_a_loan(hkall):
    assert recall_due_date(
        hkall,
        checkout_date=date(2026, 3, 1),
        due_date=date(2026, 3, 10),
        recall_day=date(2026, 3, 2),
    ) == date(2026, 3, 10)


def test_add_months_keeps_the_last_day_of_shorter_months():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)


@given(policy=st.sampled_from(list(POLICIES.values())), day=days, category=categories)
def test_property_due_date_never_before_the_checkout_day(policy, day, category):
    due = checkout_due_date(policy, day, patron_category=category)
    assert due > day


@given(
    policy=st.sampled_from(list(POLICIES.values())),
    checkout=days,
    held=st.integers(min_value=0, max_value=120),
    late=st.integers(min_value=-30, max_value=60),
    category=categories,
)
def test_property_renewal_due_date_never_before_the_renewal_day_nor_the_old_due_date(
    policy, checkout, held, late, category
):
    due = checkout + timedelta(days=14 + held)
    renewal_day = max(checkout, due + timedelta(days=late))
    new_due = renewal_due_date(
        policy,
        renewal_day=renewal_day,
        due_date=due,
        checkout_date=checkout,
        patron_category=category,
    )
    assert new_due >= due
    longest = policy.category(category)
    if longest is None or longest.max_total_loan_days is None:
        assert new_due > renewal_day


@given(renewal_day=days, early=st.integers(min_value=0, max_value=13))
def test_property_hkpl_02_always_14_days_from_the_renewal_day(renewal_day, early):
    hkpl = POLICIES["hkpl"]
    due = renewal_day + timedelta(days=early)
    new_due = renewal_due_date(
        hkpl, renewal_day=renewal_day, due_date=due, checkout_date=due - timedelta(days=14)
    )
    assert new_due == renewal_day + timedelta(days=14)
