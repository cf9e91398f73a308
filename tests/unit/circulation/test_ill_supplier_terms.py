"""The loan terms a lender ships with (ILL.md "loan terms travel with the loan"), from its
policy's numbers and the patron's category."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from libs.common.policy import Policy
from services.circulation.domain.loan_terms import loan_terms

SHIPPED = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("category", "days", "longest"),
    [("academic_staff", 30, 90), ("postgraduate", 30, 90), ("student", 15, 45)],
)
def test_hkall_loan_period_by_category_hkall_08_and_longest_loan_hkall_12(
    hkall: Policy, category, days, longest
):
    terms = loan_terms(hkall, patron_category=category, shipped_on=SHIPPED)
    assert terms.loan_days == days == hkall.categories[category].loan_days
    assert terms.due_date == SHIPPED + timedelta(days=days)
    assert terms.max_total_loan_days == longest
    assert terms.renewals_left is None
    assert {"HKALL-08", "HKALL-12"} <= set(terms.rules)


def test_hkall_fines_recall_and_loss_hkall_11_13_16_17_20(hkall: Policy):
    terms = loan_terms(hkall, patron_category="student", shipped_on=SHIPPED)
    assert terms.currency == "HKD"
    # HKALL-16: $2 a day up to $30, a recalled book $4 a day up to $60
    assert (terms.fine_per_day_minor, terms.fine_cap_minor) == (200, 3000)
    assert (terms.recalled_fine_per_day_minor, terms.recalled_fine_cap_minor) == (400, 6000)
    assert terms.cap_waived_when_recovered is True  # HKALL-17
    assert terms.recall_minimum_use_days == 15  # HKALL-11
    assert terms.renewal_needs_approval is True  # HKALL-13
    assert terms.lost_item_rule == "HKALL-20"
    assert terms.rules == [
        "HKALL-08",
        "HKALL-12",
        "HKALL-13",
        "HKALL-11",
        "HKALL-16",
        "HKALL-17",
        "HKALL-20",
    ]


@pytest.mark.parametrize("category", ["student", "staff"])
def test_mala_fourteen_days_mala_04_one_renewal_mala_05(mala: Policy, category):
    terms = loan_terms(mala, patron_category=category, shipped_on=SHIPPED)
    assert terms.loan_days == 14 == mala.loans.default_days
    assert terms.due_date == date(2026, 12, 15)
    assert terms.renewals_left == 1 and terms.max_total_loan_days is None
    assert terms.renewal_needs_approval is True


def test_mala_fines_and_loss_mala_08_mala_11(mala: Policy):
    terms = loan_terms(mala, patron_category="student", shipped_on=SHIPPED)
    assert terms.currency == "MOP"
    assert (terms.fine_per_day_minor, terms.fine_cap_minor) == (200, 6000)  # MALA-08
    assert terms.recalled_fine_per_day_minor is None and not terms.cap_waived_when_recovered
    assert terms.recall_minimum_use_days == 0  # MALA-06: at any time
    assert terms.lost_item_rule == "MALA-11"
    assert terms.rules == ["MALA-04", "MALA-05", "MALA-06", "MALA-08", "MALA-11"]


def test_the_terms_follow_the_policy_numbers_not_literals(hkall: Policy):
    """A lender that sets its own numbers lends on them (rules.md: numbers are data)."""
    category = hkall.categories["student"].model_copy(update={"loan_days": 21})
    policy = hkall.model_copy(update={"categories": {**hkall.categories, "student": category}})
    terms = loan_terms(policy, patron_category="student", shipped_on=SHIPPED)
    assert terms.loan_days == 21 and terms.due_date == SHIPPED + timedelta(days=21)
