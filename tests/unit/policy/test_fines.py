"""Overdue fines per day or part thereof, by section, recalled rate and caps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.common.money import Money
from libs.common.policy import (
    days_overdue_at,
    days_to_max_fine,
    load_policy,
    loan_fine,
    loan_fine_at,
    max_fine_reached,
    overdue_fine,
)
from tests.unit.policy.builders import hk_time, loan

POLICIES = {name: load_policy(name) for name in ("hkpl", "hkall", "mala")}
sections = st.sampled_from(["adult", "young_adult", "children"])


def hkd(dollars_cents: int) -> Money:
    return Money(amount_minor=dollars_cents, currency="HKD")


@pytest.mark.parametrize(
    ("section", "per_day"), [("adult", 150), ("young_adult", 50), ("children", 50)]
)
def test_hkpl_10_fine_per_day_by_section(hkpl, section, per_day):
    fine = overdue_fine(hkpl, 3, section=section)
    assert fine.amount == hkd(3 * per_day)
    assert fine.rule == "HKPL-10"
    assert fine.cap is None


def test_hkpl_10_a_started_day_counts_as_a_whole_day(hkpl):
    due = date(2026, 3, 15)
    assert days_overdue_at(hkpl, due, hk_time(2026, 3, 15, 23, 59)) == 0
    assert days_overdue_at(hkpl, due, hk_time(2026, 3, 16, 0, 5)) == 1
    assert days_overdue_at(hkpl, due, hk_time(2026, 3, 17, 9, 0)) == 2
    fine = loan_fine_at(hkpl, loan(due=due), hk_time(2026, 3, 16, 0, 5))
    assert fine.amount == hkd(150)


def test_days_are_counted_in_the_library_timezone(hkpl):
    # 16:30 UTC on the 15th is already 00:30 on the 16th in Hong Kong: one day late there
    instant = datetime(2026, 3, 15, 16, 30, tzinfo=UTC)
    assert days_overdue_at(hkpl, date(2026, 3, 15), instant) == 1


def test_hkall_16_normal_fine_two_dollars_a_day_capped_at_30(hkall):
    assert overdue_fine(hkall, 1).amount == hkd(200)
    assert overdue_fine(hkall, 14).amount == hkd(2800)
    fifteen = overdue_fine(hkall, 15)
    assert fifteen.amount == hkd(3000)
    assert fifteen.cap_reached
    assert overdue_fine(hkall, 40).amount == hkd(3000)
    assert days_to_max_fine(hkall) == 15


def test_hkall_16_recalled_book_four_dollars_a_day_capped_at_60(hkall):
    assert overdue_fine(hkall, 2, recalled=True).amount == hkd(800)
    assert overdue_fine(hkall, 30, recalled=True).amount == hkd(6000)
    assert days_to_max_fine(hkall, recalled=True) == 15


def test_hkall_17_no_cap_for_a_lost_item_later_recovered(hkall):
    fine = overdue_fine(hkall, 40, recovered_after_loss=True)
    assert fine.amount == hkd(8000)
    assert fine.cap is None and fine.cap_waived
    assert fine.rule == "HKALL-17"
    assert overdue_fine(hkall, 10, recovered_after_loss=True).rule == "HKALL-16"


def test_mala_08_mop_2_a_day_at_most_mop_60(mala):
    assert overdue_fine(mala, 5).amount == Money(amount_minor=1000, currency="MOP")
    assert overdue_fine(mala, 45).amount == Money(amount_minor=6000, currency="MOP")
    # MALA states no recovered-item exception: the cap stays
    assert overdue_fine(mala, 45, recovered_after_loss=True).amount.amount_minor == 6000


def test_hkall_19_max_fine_reached_on_the_15th_late_day(hkall):
    overdue = loan(due=date(2026, 3, 1))
    assert not max_fine_reached(hkall, overdue, date(2026, 3, 15))
    assert max_fine_reached(hkall, overdue, date(2026, 3, 16))


def test_no_fine_before_or_on_the_due_date(hkpl):
    facts = loan(due=date(2026, 3, 15))
    assert loan_fine(hkpl, facts, date(2026, 3, 15)).amount == hkd(0)
    assert loan_fine(hkpl, facts, date(2026, 3, 1)).amount == hkd(0)


def test_negative_days_are_refused(hkpl):
    with pytest.raises(ValueError):
        overdue_fine(hkpl, -1)


@given(
    policy=st.sampled_from(list(POLICIES.values())),
    late=st.integers(min_value=0, max_value=3650),
    section=sections,
    recalled=st.booleans(),
    recovered=st.booleans(),
)
def test_property_fine_never_negative_and_capped_where_a_cap_applies(
    policy, late, section, recalled, recovered
):
    fine = overdue_fine(
        policy, late, section=section, recalled=recalled, recovered_after_loss=recovered
    )
    assert fine.amount.amount_minor >= 0
    assert fine.amount.currency == policy.currency
    if fine.cap is not None:
        assert fine.amount.amount_minor <= fine.cap.amount_minor
    else:
        assert fine.amount.amount_minor == late * fine.per_day.amount_minor


@given(
    policy=st.sampled_from(list(POLICIES.values())),
    late=st.integers(min_value=0, max_value=400),
    section=sections,
    recalled=st.booleans(),
)
def test_property_fine_grows_with_lateness(policy, late, section, recalled):
    today = overdue_fine(policy, late, section=section, recalled=recalled).amount.amount_minor
    tomorrow = overdue_fine(policy, late + 1, section=section, recalled=recalled)
    assert tomorrow.amount.amount_minor >= today


@given(
    policy=st.sampled_from(list(POLICIES.values())),
    due=st.dates(min_value=date(2001, 1, 1), max_value=date(2098, 1, 1)),
    late_days=st.integers(min_value=0, max_value=100),
    seconds=st.integers(min_value=1, max_value=86_399),
)
def test_property_a_started_day_counts_whole(policy, due, late_days, seconds):
    """Any instant in a day costs the same as the whole day: from 00:00:01 to 23:59:59."""
    tz = ZoneInfo(policy.timezone)
    day = due + timedelta(days=late_days)
    start_of_day = datetime.combine(day, time(0, 0, 1), tzinfo=tz)
    instant = datetime.combine(day, time(0), tzinfo=tz) + timedelta(seconds=seconds)
    facts = loan(checkout=due - timedelta(days=14), due=due)
    at_instant = loan_fine_at(policy, facts, instant)
    assert at_instant.days_overdue == late_days
    assert at_instant.amount == loan_fine_at(policy, facts, start_of_day).amount
