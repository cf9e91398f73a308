"""May the account borrow? Quotas, material types, standing, eligibility."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from libs.common.policy import AccountBlock, checkout_decision, quota_usage
from tests.unit.policy.builders import account, item, loan, loans

TODAY = date(2026, 3, 10)


def on_loan(n: int, **fields: object):
    return loans(n, checkout=TODAY - timedelta(days=2), **fields)


# HKPL ----------------------------------------------------------------------------------------


def test_hkpl_09_tenth_item_allowed_eleventh_refused(hkpl):
    assert checkout_decision(hkpl, account(*on_loan(9)), [item()], TODAY)
    decision = checkout_decision(hkpl, account(*on_loan(10)), [item()], TODAY)
    assert not decision
    assert decision.rules == ["HKPL-09"]
    assert (
        "at most 10 items (with their accompanying materials) or 20 periodical back issues"
        in (decision.messages[0])
    )
    assert decision.messages[0].startswith("checkout refused: ")
    assert decision.messages[0].endswith("(HKPL-09)")


def test_hkpl_09_accompanying_material_rides_with_its_item(hkpl):
    held = [
        *on_loan(8),
        loan("book", checkout=TODAY, set_id="S1", material_type="book_with_disc"),
        loan(
            "disc",
            checkout=TODAY,
            set_id="S1",
            main_item_id="item-book",
            material_type="book_with_disc",
        ),
    ]
    the_set = [
        item("main", set_id="S2", material_type="book_with_disc"),
        item("cd", set_id="S2", main_item_id="main", material_type="book_with_disc"),
    ]
    assert quota_usage(hkpl, account(*held)).items == 9
    assert checkout_decision(hkpl, account(*held), the_set, TODAY)


def test_hkpl_09_twenty_back_issues_or_a_mix_in_the_same_room(hkpl):
    back = {"material_type": "periodical_back_issue"}
    new_issue = [item(material_type="periodical_back_issue")]
    assert checkout_decision(hkpl, account(*on_loan(19, **back)), new_issue, TODAY)
    assert not checkout_decision(hkpl, account(*on_loan(20, **back)), new_issue, TODAY)
    mix = [*on_loan(5), *[loan(f"B{i}", checkout=TODAY, **back) for i in range(9)]]
    assert checkout_decision(hkpl, account(*mix), new_issue, TODAY)
    full = [*mix, loan("B9", checkout=TODAY, **back)]
    assert checkout_decision(hkpl, account(*full), new_issue, TODAY).rules == ["HKPL-09"]
    assert not checkout_decision(hkpl, account(*full), [item()], TODAY)


def test_hkpl_18_one_quota_whatever_card_the_items_were_borrowed_with(hkpl):
    # the engine sees one account: loans made on the library card and on the smart ID card
    decision = checkout_decision(hkpl, account(*on_loan(10)), [item()], TODAY)
    assert "one quota for all the cards of the account" in decision.messages[0]


def test_hkpl_03_outstanding_charges_ceiling_blocks_borrowing(hkpl):
    assert checkout_decision(hkpl, account(outstanding_minor=12999), [item()], TODAY)
    decision = checkout_decision(hkpl, account(outstanding_minor=13000), [item()], TODAY)
    assert decision.rules == ["HKPL-03"]
    assert "(HKD 130.00) have reached the limit of HKD 130.00" in decision.messages[0]


def test_hkpl_03_fines_still_accruing_count_toward_the_ceiling(hkpl):
    late = loan("late", checkout=TODAY - timedelta(days=54), due=TODAY - timedelta(days=40))
    # $60 accrued on the overdue item + $70 unpaid = $130
    decision = checkout_decision(hkpl, account(late, outstanding_minor=7000), [item()], TODAY)
    assert decision.rules == ["HKPL-03"]


def test_hkpl_03_item_past_the_overdue_time_limit_blocks(hkpl):
    sixty = loan("a", checkout=TODAY - timedelta(days=74), due=TODAY - timedelta(days=60))
    assert checkout_decision(hkpl, account(sixty), [item()], TODAY)
    sixty_one = loan("b", checkout=TODAY - timedelta(days=75), due=TODAY - timedelta(days=61))
    decision = checkout_decision(hkpl, account(sixty_one), [item()], TODAY)
    assert decision.rules == ["HKPL-03"]
    assert "61 days overdue, past the overdue time limit of 60 days" in decision.messages[0]


def test_hkpl_03_charge_unpaid_past_the_time_limit_blocks(hkpl):
    old = account(outstanding_minor=500, oldest_unpaid_charge_on=TODAY - timedelta(days=61))
    decision = checkout_decision(hkpl, old, [item()], TODAY)
    assert decision.rules == ["HKPL-03"]
    assert "unpaid for more than 60 days" in decision.messages[0]


def test_hkpl_15_suspended_account_cannot_borrow(hkpl):
    block = AccountBlock(
        rule="HKPL-15",
        code="card_reported_lost",
        reason="the account is suspended because a library card has been reported lost",
    )
    decision = checkout_decision(hkpl, account(blocks=(block,)), [item()], TODAY)
    assert decision.rules == ["HKPL-15"]
    assert decision.refusals[0].code == "card_reported_lost"


def test_every_refusing_rule_is_listed_not_only_the_first(hkpl):
    block = AccountBlock(rule="HKPL-15", reason="the account is suspended")
    decision = checkout_decision(
        hkpl, account(*on_loan(10), blocks=(block,), outstanding_minor=20000), [item()], TODAY
    )
    assert decision.rules == ["HKPL-15", "HKPL-03", "HKPL-09"]


# HKALL ---------------------------------------------------------------------------------------


def student(*held, **fields):
    return account(*held, patron_category="student", **fields)


def test_hkall_01_only_books_can_be_requested(hkall):
    for material in ("serial", "media", "thesis", "book_with_disc", "periodical_back_issue"):
        decision = checkout_decision(
            hkall, student(), [item(material_type=material, ill=True)], TODAY, action="request"
        )
        assert decision.rules == ["HKALL-01"], material
        assert decision.messages[0].startswith("request refused: ")
        assert "only books can" in decision.messages[0]
    assert checkout_decision(hkall, student(), [item(material_type="book", ill=True)], TODAY)


@pytest.mark.parametrize(
    ("category", "quota"),
    [("academic_staff", 30), ("postgraduate", 15), ("student", 15), ("other_staff", 15)],
)
def test_hkall_08_quota_by_category(hkall, category, quota):
    below = account(*on_loan(quota - 1, ill=True), patron_category=category)
    at_quota = account(*on_loan(quota, ill=True), patron_category=category)
    assert checkout_decision(hkall, below, [item(ill=True)], TODAY)
    decision = checkout_decision(hkall, at_quota, [item(ill=True)], TODAY)
    assert decision.rules == ["HKALL-08"]
    assert f"already has {quota} items on loan through HKALL" in decision.messages[0]


def test_hkall_08_requests_in_flight_hold_quota(hkall):
    facts = student(*on_loan(13, ill=True), requests_holding_quota=("hku", "cuhk"))
    assert checkout_decision(hkall, facts, [item(ill=True)], TODAY).rules == ["HKALL-08"]


def test_hkall_08_only_listed_categories_are_eligible(hkall):
    decision = checkout_decision(hkall, account(patron_category="alumni"), [item(ill=True)], TODAY)
    assert decision.rules == ["HKALL-08"]
    assert "not eligible" in decision.messages[0]


def test_hkall_09_hkall_loans_count_inside_the_home_quota(hkall):
    home = [loan(f"H{i}", checkout=TODAY) for i in range(35)]
    # 35 home items + 14 HKALL books: one more HKALL book makes 50, the home quota
    assert checkout_decision(hkall, student(*home, *on_loan(14, ill=True)), [item(ill=True)], TODAY)
    home.append(loan("H35", checkout=TODAY))
    decision = checkout_decision(
        hkall, student(*home, *on_loan(14, ill=True)), [item(ill=True)], TODAY
    )
    assert decision.rules == ["HKALL-09"]
    assert "home library quota of 50 items" in decision.messages[0]


def test_hkall_09_requests_in_flight_count_inside_the_home_quota(hkall):
    # HKALL-09: a student with a home quota of 50 and 15 HKALL requests borrows 35 home items
    requests = ("hku",) * 15
    home = [loan(f"H{i}", checkout=TODAY) for i in range(34)]
    assert checkout_decision(
        hkall, student(*home, requests_holding_quota=requests), [item()], TODAY
    )
    home.append(loan("H34", checkout=TODAY))
    decision = checkout_decision(
        hkall, student(*home, requests_holding_quota=requests), [item()], TODAY
    )
    # the 36th home item passes the home quota: refused by HKALL-09 alone, never by HKALL-08
    assert decision.rules == ["HKALL-09"]
    assert "would make 51 in all" in decision.messages[0]


def test_hkall_09_hkall_books_and_requests_together_leave_room_for_35_home_items(hkall):
    held = [*on_loan(10, ill=True), *[loan(f"H{i}", checkout=TODAY) for i in range(34)]]
    facts = student(*held, requests_holding_quota=("hku",) * 5)
    assert checkout_decision(hkall, facts, [item()], TODAY)
    usage = quota_usage(hkall, facts, adding=[item()])
    assert (usage.items, usage.home_used, usage.home_limit) == (15, 50, 50)


def test_hkall_08_a_home_item_is_never_refused_by_the_consortium_limit(hkall):
    # HKALL-08's 15 books are HKALL's: a home item at the home counter is not one of them
    full = student(*on_loan(10, ill=True), requests_holding_quota=("hku",) * 5)
    assert checkout_decision(hkall, full, [item()], TODAY)
    assert checkout_decision(hkall, full, [item(ill=True)], TODAY).rules == ["HKALL-08"]
    assert checkout_decision(hkall, full, [item(lender="hku")], TODAY).rules == ["HKALL-08"]


def test_mala_02_a_home_item_is_not_counted_against_a_lender(mala):
    two_home = account(*on_loan(2), patron_category="student")
    assert checkout_decision(mala, two_home, [item()], TODAY)
    from_kwnc = account(*on_loan(2, ill=True, lender="kwnc"), patron_category="student")
    assert checkout_decision(mala, from_kwnc, [item()], TODAY)


def test_hkall_18_overdue_recalled_book_suspends_all_privileges(hkall):
    recalled = loan("r", ill=True, recalled=True, due=TODAY - timedelta(days=1))
    decision = checkout_decision(hkall, student(recalled), [item(ill=True)], TODAY)
    assert "HKALL-18" in decision.rules
    assert "a recalled item is overdue" in " ".join(decision.messages)


def test_hkall_19_maximum_fine_reached_suspends_privileges(hkall):
    fourteen = loan("a", ill=True, due=TODAY - timedelta(days=14))
    assert checkout_decision(hkall, student(fourteen), [item(ill=True)], TODAY)
    fifteen = loan("b", ill=True, due=TODAY - timedelta(days=15))
    decision = checkout_decision(hkall, student(fifteen), [item(ill=True)], TODAY)
    assert decision.rules == ["HKALL-19"]


# MALA ----------------------------------------------------------------------------------------


def test_mala_02_two_items_at_a_time_from_this_lender(mala):
    from_kwnc = account(*on_loan(2, ill=True, lender="kwnc"), patron_category="student")
    decision = checkout_decision(mala, from_kwnc, [item(ill=True, lender="kwnc")], TODAY)
    assert decision.rules == ["MALA-02"]
    assert "from this library" in decision.messages[0]
    assert checkout_decision(mala, from_kwnc, [item(ill=True, lender="um")], TODAY)


def test_mala_02_a_book_with_its_disc_is_one_item(mala):
    held = account(loan("x", ill=True, lender="kwnc"), patron_category="staff")
    the_set = [
        item("b", set_id="S", material_type="book_with_disc", lender="kwnc"),
        item("d", set_id="S", main_item_id="b", material_type="book_with_disc", lender="kwnc"),
    ]
    assert checkout_decision(mala, held, the_set, TODAY)


@pytest.mark.parametrize(
    "material", ["reference", "periodical_back_issue", "serial", "media", "thesis"]
)
def test_mala_03_reference_periodicals_media_and_theses_are_not_lent(mala, material):
    decision = checkout_decision(
        mala, account(patron_category="student"), [item(material_type=material)], TODAY
    )
    assert decision.rules == ["MALA-03"]


def test_mala_10_fines_and_overdue_loans_settled_first(mala):
    decision = checkout_decision(
        mala, account(patron_category="student", outstanding_minor=200), [item()], TODAY
    )
    assert decision.rules == ["MALA-10"]
    assert "unpaid charges of MOP 2.00, which must be settled first" in decision.messages[0]
    overdue = loan("late", due=TODAY - timedelta(days=1))
    decision = checkout_decision(mala, account(overdue, patron_category="student"), [item()], TODAY)
    # one day late: the accruing MOP 2 and the overdue item both stop it
    assert decision.rules == ["MALA-10"]
    assert any("overdue (1 day) and must be returned first" in m for m in decision.messages)


def test_mala_01_only_eligible_users(mala):
    assert checkout_decision(mala, account(patron_category="visitor"), [item()], TODAY).rules == [
        "MALA-01"
    ]
