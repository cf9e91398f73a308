"""Renewal decisions for one item and for a selection, and the dry run."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.common.policy import (
    AccountBlock,
    UnknownLoan,
    load_policy,
    plan_renewals,
    renewal_decision,
    renewal_dry_run,
)
from tests.unit.policy.builders import account, hk_time, loan

TODAY = date(2026, 5, 6)
CHECKOUT = date(2026, 4, 24)  # due on 8 May


def hkpl_loan(loan_id="L1", **fields):
    return loan(loan_id, checkout=CHECKOUT, **fields)


def test_hkpl_02_renewal_gives_14_days_from_the_renewal_day(hkpl):
    outcome = renewal_decision(hkpl, account(hkpl_loan()), hkpl_loan(), TODAY)
    assert outcome.decision.allowed
    assert outcome.due_date == date(2026, 5, 8)
    assert outcome.new_due_date == date(2026, 5, 20)


def _citing_hkpl_02(policy):
    terms = policy.renewals.model_copy(update={"period_rule": "HKPL-02"})
    return policy.model_copy(update={"renewals": terms})


def test_hkpl_02_a_renewal_that_would_not_move_the_due_date_is_refused(hkpl):
    on_checkout_day = renewal_decision(hkpl, account(hkpl_loan()), hkpl_loan(), CHECKOUT)
    assert not on_checkout_day.decision.allowed and on_checkout_day.new_due_date is None
    [refusal] = on_checkout_day.decision.refusals
    assert refusal.code == "renewal_would_not_extend"
    assert refusal.reason == (
        "the item is already due on 8 May 2026; renewing today would not extend it"
    )
    # Renewed once already today (a double click): due 14 days from today, so again nothing.
    renewed = hkpl_loan(due=TODAY + timedelta(days=14), renewals=1, consecutive_renewals=1)
    again = renewal_decision(_citing_hkpl_02(hkpl), account(renewed), renewed, TODAY)
    assert again.decision.messages == [
        "renewal refused: the item is already due on 20 May 2026; renewing today would not "
        "extend it (HKPL-02)"
    ]
    # The day after checkout it moves by a day, and is a renewal.
    next_day = renewal_decision(hkpl, account(hkpl_loan()), hkpl_loan(), CHECKOUT + timedelta(1))
    assert next_day.decision.allowed and next_day.new_due_date == date(2026, 5, 9)


def test_hkpl_03_five_consecutive_renewals_then_refused(hkpl):
    fourth = hkpl_loan(consecutive_renewals=4, renewals=4)
    assert renewal_decision(hkpl, account(fourth), fourth, TODAY).decision.allowed
    fifth = hkpl_loan(consecutive_renewals=5, renewals=5)
    outcome = renewal_decision(hkpl, account(fifth), fifth, TODAY)
    assert outcome.new_due_date is None
    assert outcome.decision.messages == [
        "renewal refused: the item has been renewed 5 consecutive times (HKPL-03)"
    ]


def test_hkpl_03_reserved_by_another_reader_and_no_other_copy(hkpl):
    reserved = hkpl_loan(hold_by_other=True)
    outcome = renewal_decision(hkpl, account(reserved), reserved, TODAY)
    assert outcome.decision.messages == [
        "renewal refused: another reader has reserved the item and no other copy is "
        "available (HKPL-03)"
    ]
    other_copy = hkpl_loan(hold_by_other=True, other_copy_available=True)
    assert renewal_decision(hkpl, account(other_copy), other_copy, TODAY).decision.allowed


def test_hkpl_03_accompanying_material_cannot_renew_once_its_main_item_is_returned(hkpl):
    disc = hkpl_loan("disc", set_id="S", main_item_id="book-1", material_type="book_with_disc")
    outcome = renewal_decision(hkpl, account(disc), disc, TODAY)
    assert outcome.decision.refusals[0].code == "main_item_returned"
    assert outcome.decision.rules == ["HKPL-03"]
    book = hkpl_loan("book", item_id="book-1", set_id="S", material_type="book_with_disc")
    assert renewal_decision(hkpl, account(book, disc), disc, TODAY).decision.allowed


def test_hkpl_03_outstanding_charges_at_the_ceiling(hkpl):
    outcome = renewal_decision(
        hkpl, account(hkpl_loan(), outstanding_minor=13000), hkpl_loan(), TODAY
    )
    assert outcome.decision.rules == ["HKPL-03"]
    assert [r.code for r in outcome.decision.refusals] == ["charges_ceiling"]


def test_hkpl_03_item_charge_at_the_ceiling(hkpl):
    charged = hkpl_loan(outstanding_charges_minor=13000)
    other = hkpl_loan("L2")
    facts = account(charged, other, outstanding_minor=13000)
    # the account total is at the ceiling too: one refusal says so, not two
    codes = [r.code for r in renewal_decision(hkpl, facts, charged, TODAY).decision.refusals]
    assert codes == ["charges_ceiling"]


def test_hkpl_03_an_item_past_the_overdue_time_limit_blocks_every_renewal(hkpl):
    very_late = loan("old", checkout=TODAY - timedelta(days=90), due=TODAY - timedelta(days=61))
    outcome = renewal_decision(hkpl, account(hkpl_loan(), very_late), hkpl_loan(), TODAY)
    assert outcome.decision.rules == ["HKPL-03"]
    assert "past the overdue time limit" in outcome.decision.messages[0]


def test_hkpl_03_suspended_account_cannot_renew(hkpl):
    block = AccountBlock(
        rule="HKPL-15",
        reason="the account is suspended because a library card has been reported lost",
    )
    outcome = renewal_decision(hkpl, account(hkpl_loan(), blocks=(block,)), hkpl_loan(), TODAY)
    assert outcome.decision.rules == ["HKPL-15"]
    assert outcome.decision.messages[0].startswith("renewal refused: the account is suspended")


def test_hkpl_03_lists_every_condition_that_refuses(hkpl):
    bad = hkpl_loan(consecutive_renewals=5, renewals=5, hold_by_other=True)
    outcome = renewal_decision(hkpl, account(bad, outstanding_minor=20000), bad, TODAY)
    assert [r.code for r in outcome.decision.refusals] == [
        "charges_ceiling",
        "reserved_by_other",
        "consecutive_renewal_limit",
    ]


def test_hkpl_04_overdue_item_renews_and_reports_the_late_days_fine(hkpl):
    late = hkpl_loan()  # due 8 May
    outcome = renewal_decision(hkpl, account(late), late, date(2026, 5, 11))
    assert outcome.decision.allowed
    assert outcome.new_due_date == date(2026, 5, 25)
    assert outcome.overdue_fine is not None
    assert outcome.overdue_fine.days_overdue == 3
    assert outcome.overdue_fine.amount.amount_minor == 450


def test_hkpl_05_a_set_renews_together_or_not_at_all(hkpl):
    book = hkpl_loan("book", item_id="book-1", set_id="S", material_type="book_with_disc")
    disc = hkpl_loan(
        "disc",
        set_id="S",
        main_item_id="book-1",
        material_type="book_with_disc",
        hold_by_other=True,
    )
    plan = plan_renewals(hkpl, account(book, disc), ["book"], TODAY)
    assert [o.loan_id for o in plan.outcomes] == ["book", "disc"]
    assert plan.outcome("disc").selected is False
    assert plan.outcome("disc").decision.rules == ["HKPL-03"]
    assert plan.outcome("book").decision.messages == [
        "renewal refused: another item of the same set cannot be renewed, and the items of "
        "a set are renewed together (HKPL-05)"
    ]
    assert plan.renewable == ()


def test_hkpl_05_selecting_one_item_renews_the_whole_set(hkpl):
    book = hkpl_loan("book", item_id="book-1", set_id="S", material_type="book_with_disc")
    disc = hkpl_loan("disc", set_id="S", main_item_id="book-1", material_type="book_with_disc")
    plan = plan_renewals(hkpl, account(book, disc, hkpl_loan("other")), ["disc"], TODAY)
    assert {o.loan_id for o in plan.renewable} == {"book", "disc"}
    assert {o.new_due_date for o in plan.renewable} == {date(2026, 5, 20)}


def test_plan_keeps_independent_items_independent(hkpl):
    ok = hkpl_loan("ok")
    blocked = hkpl_loan("blocked", consecutive_renewals=5)
    plan = plan_renewals(hkpl, account(ok, blocked), ["ok", "blocked"], TODAY)
    assert [o.loan_id for o in plan.renewable] == ["ok"]
    assert [o.loan_id for o in plan.refused] == ["blocked"]


def test_unknown_loan_is_an_error_not_a_refusal(hkpl):
    with pytest.raises(UnknownLoan):
        plan_renewals(hkpl, account(hkpl_loan()), ["nope"], TODAY)


def test_dry_run_is_the_same_computation_and_changes_nothing(hkpl):
    facts = account(hkpl_loan("a"), hkpl_loan("b", consecutive_renewals=5))
    before = facts.model_dump()
    assert renewal_dry_run(hkpl, facts, ["a", "b"], TODAY) == plan_renewals(
        hkpl, facts, ["a", "b"], TODAY
    )
    assert facts.model_dump() == before


@given(hour=st.integers(min_value=0, max_value=23), minute=st.integers(min_value=0, max_value=59))
def test_hkpl_07_renewal_at_any_hour_of_the_day(hour, minute):
    hkpl = load_policy("hkpl")
    at = hk_time(2026, 5, 6, hour, minute)
    plan_at = plan_renewals(hkpl, account(hkpl_loan()), ["L1"], hkpl.local_date(at))
    assert plan_at.outcomes[0].decision.allowed
    assert plan_at.outcomes[0].new_due_date == date(2026, 5, 20)


# HKALL ---------------------------------------------------------------------------------------


def hkall_loan(loan_id="H1", **fields):
    return loan(loan_id, checkout=date(2026, 3, 1), due=date(2026, 3, 16), ill=True, **fields)


def test_hkall_12_hold_by_a_local_user_blocks_even_with_other_copies(hkall):
    held = hkall_loan(hold_by_other=True, other_copy_available=True)
    outcome = renewal_decision(
        hkall, account(held, patron_category="student"), held, date(2026, 3, 14)
    )
    assert outcome.decision.messages == [
        "renewal refused: another reader has placed a hold on the item (HKALL-12)"
    ]


def test_hkall_12_a_recall_blocks_renewal(hkall):
    recalled = hkall_loan(recalled=True)
    outcome = renewal_decision(
        hkall, account(recalled, patron_category="student"), recalled, date(2026, 3, 14)
    )
    assert outcome.decision.rules == ["HKALL-12"]
    assert outcome.decision.refusals[0].code == "recalled"


def test_hkall_12_no_renewal_once_45_days_in_all_are_reached(hkall):
    at_limit = loan("H1", checkout=date(2026, 3, 1), due=date(2026, 4, 15), ill=True, renewals=2)
    outcome = renewal_decision(
        hkall, account(at_limit, patron_category="student"), at_limit, date(2026, 4, 14)
    )
    assert outcome.decision.messages == [
        "renewal refused: the loan has reached the longest period allowed, 45 days in all "
        "(HKALL-12)"
    ]


def test_hkall_13_renewal_needs_the_lending_librarys_approval(hkall):
    ok = hkall_loan()
    outcome = renewal_decision(hkall, account(ok, patron_category="student"), ok, date(2026, 3, 14))
    assert outcome.decision.allowed
    assert outcome.needs_lender_approval
    assert outcome.new_due_date == date(2026, 3, 29)


# MALA ----------------------------------------------------------------------------------------


def mala_loan(**fields):
    return loan("M1", checkout=date(2026, 3, 2), due=date(2026, 3, 16), ill=True, **fields)


def test_mala_05_one_renewal_only(mala):
    once = mala_loan(renewals=1, consecutive_renewals=1)
    outcome = renewal_decision(
        mala, account(once, patron_category="staff"), once, date(2026, 3, 10)
    )
    assert outcome.decision.messages == [
        "renewal refused: the item has already been renewed once, the most allowed is once "
        "(MALA-05)"
    ]
    fresh = mala_loan()
    allowed = renewal_decision(
        mala, account(fresh, patron_category="staff"), fresh, date(2026, 3, 10)
    )
    assert allowed.decision.allowed and allowed.needs_lender_approval
    assert allowed.new_due_date == date(2026, 3, 24)


def test_mala_05_renewal_must_be_asked_before_the_due_date(mala):
    late = mala_loan()
    outcome = renewal_decision(
        mala, account(late, patron_category="staff"), late, date(2026, 3, 17)
    )
    codes = [r.code for r in outcome.decision.refusals]
    assert "renewal_after_due_date" in codes
    assert "MALA-05" in outcome.decision.rules
