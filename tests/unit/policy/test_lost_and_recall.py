"""Assumed lost (HKALL-19, MALA-09) and recalls (HKALL-10, HKALL-11, HKALL-14, MALA-06)."""

from __future__ import annotations

from datetime import date

import pytest

from libs.common.policy import assumed_lost_on, is_assumed_lost, recall_decision
from tests.unit.policy.builders import loan


def test_hkall_19_assumed_lost_once_the_maximum_fine_is_reached(hkall):
    overdue = loan(checkout=date(2026, 3, 1), due=date(2026, 3, 16))
    assert assumed_lost_on(hkall, overdue) == date(2026, 3, 31)
    assert not is_assumed_lost(hkall, overdue, date(2026, 3, 30))
    assert is_assumed_lost(hkall, overdue, date(2026, 3, 31))


def test_hkall_19_recalled_book_reaches_its_60_dollar_cap_in_15_days_too(hkall):
    recalled = loan(due=date(2026, 3, 16), recalled=True)
    assert assumed_lost_on(hkall, recalled) == date(2026, 3, 31)


def test_mala_09_overdue_more_than_one_month_is_handled_as_lost(mala):
    overdue = loan(checkout=date(2026, 2, 24), due=date(2026, 3, 10))
    assert assumed_lost_on(mala, overdue) == date(2026, 4, 11)
    assert not is_assumed_lost(mala, overdue, date(2026, 4, 10))
    assert is_assumed_lost(mala, overdue, date(2026, 4, 11))


def test_hkpl_never_assumes_lost(hkpl):
    assert assumed_lost_on(hkpl, loan(due=date(2026, 1, 1))) is None


def test_hkall_10_only_the_owning_library_can_recall(hkall):
    outcome = recall_decision(
        hkall,
        loan(ill=True),
        date(2026, 3, 5),
        requested_by_library="eduhk",
        owner_library="hku",
    )
    assert outcome.decision.messages == [
        "recall refused: only the library that owns the item can recall it (HKALL-10)"
    ]
    assert outcome.new_due_date is None


def test_hkall_11_recall_shortens_the_loan_but_keeps_15_days_of_use(hkall):
    on_loan = loan(checkout=date(2026, 3, 1), due=date(2026, 3, 31), ill=True)
    outcome = recall_decision(
        hkall, on_loan, date(2026, 3, 4), requested_by_library="hku", owner_library="hku"
    )
    assert outcome.decision.allowed
    assert outcome.new_due_date == date(2026, 3, 16)


def test_hkall_14_a_renewed_loan_can_still_be_recalled(hkall):
    renewed = loan(checkout=date(2026, 3, 1), due=date(2026, 4, 14), renewals=1, ill=True)
    outcome = recall_decision(
        hkall, renewed, date(2026, 3, 25), requested_by_library="hku", owner_library="hku"
    )
    assert outcome.decision.allowed
    assert outcome.new_due_date == date(2026, 4, 1)


def test_mala_06_the_lender_may_recall_at_any_time(mala):
    fresh = loan(checkout=date(2026, 3, 2), due=date(2026, 3, 16), ill=True)
    outcome = recall_decision(
        mala, fresh, date(2026, 3, 3), requested_by_library="kwnc", owner_library="kwnc"
    )
    assert outcome.new_due_date == date(2026, 3, 10)


def test_no_recalls_under_hkpl(hkpl):
    with pytest.raises(ValueError, match="no recalls"):
        recall_decision(hkpl, loan(), date(2026, 3, 3), requested_by_library="x", owner_library="x")
