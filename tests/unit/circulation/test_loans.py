"""Checkout, return, renewal, recall and loss through the policy engine."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from libs.common.money import Money
from services.circulation.domain.errors import ItemNotAvailable, LoanNotActive
from services.circulation.domain.holds import ReservationState
from services.circulation.domain.ledger import Ledger, LedgerEntry, payment_entry
from services.circulation.domain.lending import (
    checkout,
    lost_item_entry,
    mark_assumed_lost,
    mark_loss,
    parse_transaction_reference,
    preview_renewals,
    recall_loan,
    renew_loans,
    return_loan,
    transaction_reference,
)
from services.circulation.domain.loan import Loan
from tests.unit.circulation.builders import book, book_with_disc, hk, patron


def borrow(policy, items, at, loans=(), who=None, **kw):
    return checkout(policy, patron=who or patron(), loans=list(loans), items=items, at=at, **kw)


def test_hkpl_01_checkout_due_14_days_after_the_day_of_borrowing(hkpl):
    result = borrow(hkpl, [book()], hk(2026, 3, 1, 19, 30))
    assert result.decision.allowed
    (loan,) = result.loans
    assert loan.checkout_date == date(2026, 3, 1)
    assert loan.due_date == date(2026, 3, 15)
    assert result.items[0].status == "ON_LOAN"
    assert result.events[0].kind == "loan.checked_out"


def test_checkout_uses_the_library_day_not_utc(hkpl):
    # 23:30 UTC on the 1st is 07:30 on the 2nd in Hong Kong
    result = borrow(hkpl, [book()], datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    assert result.loans[0].checkout_date == date(2026, 3, 2)


def test_hkpl_09_and_hkpl_18_quota_counts_loans_on_every_card_of_the_account(hkpl):
    at = hk(2026, 3, 2)
    on_card = borrow(hkpl, [book(f"C{i}") for i in range(6)], at, borrowed_with="card:2000123456")
    on_smart_id = borrow(
        hkpl, [book(f"S{i}") for i in range(4)], at, loans=on_card.loans, borrowed_with="smart_id"
    )
    assert on_smart_id.decision.allowed
    held = [*on_card.loans, *on_smart_id.loans]
    refused = borrow(hkpl, [book("X")], at, loans=held, borrowed_with="smart_id")
    assert refused.decision.rules == ["HKPL-09"]
    assert refused.loans == () and refused.items == ()


def test_a_set_is_lent_together_and_counts_once(hkpl):
    at = hk(2026, 3, 2)
    held = borrow(hkpl, [book(f"B{i}") for i in range(9)], at).loans
    result = borrow(hkpl, list(book_with_disc()), at, loans=held)
    assert result.decision.allowed
    assert {loan.set_id for loan in result.loans} == {"S1"}


def test_only_items_on_the_shelf_or_kept_for_the_patron_can_be_lent(hkpl):
    at = hk(2026, 3, 2)
    with pytest.raises(ItemNotAvailable):
        borrow(hkpl, [book(status="ON_LOAN")], at)
    with pytest.raises(ItemNotAvailable):
        borrow(hkpl, [book(status="ON_HOLD_SHELF")], at)
    kept = borrow(hkpl, [book(status="ON_HOLD_SHELF")], at, held_for_patron={"I1"})
    assert kept.decision.allowed


def test_hkpl_15_suspended_patron_cannot_borrow(hkpl):
    suspended, _ = patron().suspend(
        rule="HKPL-15", reason="a card was reported lost", at=hk(2026, 3, 1), on=date(2026, 3, 1)
    )
    result = borrow(hkpl, [book()], hk(2026, 3, 2), who=suspended)
    assert result.decision.rules == ["HKPL-15"]


def test_hkpl_03_unpaid_charges_at_the_ceiling_stop_checkout(hkpl):
    ledger = Ledger(patron_id="P1", currency="HKD").post(
        LedgerEntry(
            patron_id="P1",
            kind="lost_item",
            amount=Money(amount_minor=13000, currency="HKD"),
            at=hk(2026, 3, 1),
            on=date(2026, 3, 1),
        )
    )
    result = borrow(hkpl, [book()], hk(2026, 3, 2), ledger=ledger)
    assert result.decision.rules == ["HKPL-03"]


def test_hkall_08_hkall_book_due_by_category_from_the_lenders_terms(hkall):
    staff = patron(library="eduhk", category="academic_staff")
    lent = book(library="hku")
    result = borrow(hkall, [lent], hk(2026, 3, 2), who=staff, ill=True, lender="hku")
    assert result.decision.allowed
    assert result.loans[0].due_date == date(2026, 4, 1)
    assert result.loans[0].ill and result.loans[0].lender == "hku"


# Return --------------------------------------------------------------------------------------


def _loaned(policy, item=None, at=None, **kw):
    item = item or book()
    result = borrow(policy, [item], at or hk(2026, 3, 1), **kw)
    return result.loans[0], result.items[0]


def test_hkpl_10_return_on_time_costs_nothing(hkpl):
    loan, item = _loaned(hkpl)
    result = return_loan(hkpl, loan, item, at=hk(2026, 3, 15, 20, 0), service_point="kpl")
    assert result.fine.amount.amount_minor == 0
    assert result.fine_entry is None
    assert result.loan.returned_to == "kpl"
    assert result.item.status == "AVAILABLE"


def test_hkpl_10_a_started_day_is_charged_as_a_whole_day(hkpl):
    loan, item = _loaned(hkpl)  # due 15 March
    result = return_loan(hkpl, loan, item, at=hk(2026, 3, 16, 0, 10))
    assert result.fine.days_overdue == 1
    assert result.fine_entry.amount == Money(amount_minor=150, currency="HKD")
    assert result.fine_entry.rule == "HKPL-10"
    assert [e.kind for e in result.events] == ["loan.returned", "ledger.charge_posted"]


def test_hkpl_10_children_section_fine(hkpl):
    loan, item = _loaned(hkpl, book(section="children"))
    result = return_loan(hkpl, loan, item, at=hk(2026, 3, 20))
    assert result.fine_entry.amount.amount_minor == 5 * 50


def test_returning_twice_is_a_state_error(hkpl):
    loan, item = _loaned(hkpl)
    returned = return_loan(hkpl, loan, item, at=hk(2026, 3, 5)).loan
    with pytest.raises(LoanNotActive):
        return_loan(hkpl, returned, item, at=hk(2026, 3, 6))


def test_hkall_17_lost_then_recovered_item_has_no_fine_cap(hkall):
    student = patron(category="student")
    loan, item = _loaned(hkall, book(library="hku"), who=student, ill=True, lender="hku")
    lost, _ = mark_loss(loan, "lost", at=hk(2026, 4, 1), on=date(2026, 4, 1))
    result = return_loan(hkall, lost, item, at=hk(2026, 4, 25))  # due 16 March: 40 days
    assert result.fine.amount.amount_minor == 40 * 200
    assert result.fine.rule == "HKALL-17"


def test_hkall_16_recalled_item_fine_and_cap(hkall):
    student = patron(category="student")
    loan, item = _loaned(hkall, book(library="hku"), who=student, ill=True, lender="hku")
    recalled = recall_loan(hkall, loan, requested_by_library="hku", at=hk(2026, 3, 3)).loan
    assert recalled.due_date == date(2026, 3, 16)  # already the minimum use period
    result = return_loan(hkall, recalled, item, at=hk(2026, 3, 20))
    assert result.fine.amount.amount_minor == 4 * 400
    late = return_loan(hkall, recalled, item, at=hk(2026, 5, 1))
    assert late.fine.amount.amount_minor == 6000


# Renewal -------------------------------------------------------------------------------------


def test_hkpl_06_renewal_gives_a_transaction_reference_and_new_due_dates(hkpl):
    loan, _ = _loaned(hkpl, at=hk(2026, 4, 24))  # due 8 May
    result = renew_loans(
        hkpl,
        patron=patron(),
        loans=[loan],
        selected=[loan.loan_id],
        at=hk(2026, 5, 6, 23, 15),
        library="hkpl",
        sequence=42,
    )
    assert result.transaction is not None
    assert result.transaction.reference == "HKPL-20260506-000042"
    assert result.transaction.items[0].new_due_date == date(2026, 5, 20)
    (renewed,) = result.loans
    assert renewed.due_date == date(2026, 5, 20)
    assert (renewed.renewals, renewed.consecutive_renewals) == (1, 1)
    assert result.events[0].transaction_ref == "HKPL-20260506-000042"


def test_hkpl_06_transaction_reference_is_deterministic_and_can_be_looked_up():
    ref = transaction_reference("hkpl", date(2026, 5, 6), 7)
    assert ref == transaction_reference("hkpl", date(2026, 5, 6), 7) == "HKPL-20260506-000007"
    assert parse_transaction_reference(ref) == ("HKPL", date(2026, 5, 6), 7)
    with pytest.raises(ValueError):
        transaction_reference("hkpl", date(2026, 5, 6), 0)
    with pytest.raises(ValueError):
        parse_transaction_reference("nope")


def test_hkpl_03_refused_renewal_changes_nothing_and_gives_no_reference(hkpl):
    loan, _ = _loaned(hkpl, at=hk(2026, 4, 24))
    worn = loan.model_copy(update={"consecutive_renewals": 5, "renewals": 5})
    result = renew_loans(
        hkpl,
        patron=patron(),
        loans=[worn],
        selected=[worn.loan_id],
        at=hk(2026, 5, 6),
        library="hkpl",
        sequence=1,
    )
    assert result.transaction is None
    assert result.loans == (worn,)
    assert result.plan.outcomes[0].decision.messages == [
        "renewal refused: the item has been renewed 5 consecutive times (HKPL-03)"
    ]


def test_hkpl_03_reservation_by_another_reader_blocks_the_renewal(hkpl):
    loan, _ = _loaned(hkpl, at=hk(2026, 4, 24))
    plan = preview_renewals(
        hkpl,
        patron=patron(),
        loans=[loan],
        selected=[loan.loan_id],
        at=hk(2026, 5, 6),
        reservations={loan.item_id: ReservationState(hold_by_other=True)},
    )
    assert plan.outcomes[0].decision.rules == ["HKPL-03"]


def test_hkpl_04_overdue_renewal_posts_the_late_days_charge(hkpl):
    loan, _ = _loaned(hkpl, at=hk(2026, 4, 24))  # due 8 May
    result = renew_loans(
        hkpl,
        patron=patron(),
        loans=[loan],
        selected=[loan.loan_id],
        at=hk(2026, 5, 10),
        library="hkpl",
        sequence=3,
    )
    assert result.loans[0].due_date == date(2026, 5, 24)
    (fine,) = result.fines
    assert fine.kind == "overdue_fine"
    assert fine.amount.amount_minor == 300
    assert "2 days overdue" in fine.description


def test_hkpl_05_set_renews_together_in_the_domain(hkpl):
    main, disc = book_with_disc()
    result = borrow(hkpl, [main, disc], hk(2026, 4, 24))
    renewed = renew_loans(
        hkpl,
        patron=patron(),
        loans=list(result.loans),
        selected=[result.loans[0].loan_id],
        at=hk(2026, 5, 6),
        library="hkpl",
        sequence=9,
    )
    assert {loan.due_date for loan in renewed.loans} == {date(2026, 5, 20)}
    assert len(renewed.transaction.items) == 2


def test_hkpl_03_accompanying_disc_alone_after_its_book_was_returned(hkpl):
    main, disc = book_with_disc()
    lent = borrow(hkpl, [main, disc], hk(2026, 4, 24))
    book_loan, disc_loan = lent.loans
    returned = return_loan(hkpl, book_loan, lent.items[0], at=hk(2026, 5, 1)).loan
    plan = preview_renewals(
        hkpl,
        patron=patron(),
        loans=[returned, disc_loan],
        selected=[disc_loan.loan_id],
        at=hk(2026, 5, 6),
    )
    assert plan.outcomes[0].decision.refusals[0].code == "main_item_returned"


def test_dry_run_shows_exactly_what_the_renewal_does(hkpl):
    first, _ = _loaned(hkpl, at=hk(2026, 4, 24))
    second, _ = _loaned(hkpl, book("I2"), at=hk(2026, 4, 24), loans=[first])
    worn = second.model_copy(update={"consecutive_renewals": 5})
    kwargs = {
        "patron": patron(),
        "loans": [first, worn],
        "selected": [first.loan_id, worn.loan_id],
        "at": hk(2026, 5, 6),
    }
    preview = preview_renewals(hkpl, **kwargs)
    result = renew_loans(hkpl, **kwargs, library="hkpl", sequence=5)
    assert result.plan == preview
    assert [o.new_due_date for o in preview.outcomes] == [date(2026, 5, 20), None]
    assert [loan.due_date for loan in result.loans] == [date(2026, 5, 20), worn.due_date]


def test_hkall_13_renewal_waits_for_the_lenders_approval(hkall):
    student = patron(category="student")
    loan, _ = _loaned(hkall, book(library="hku"), who=student, ill=True, lender="hku")
    kwargs = {
        "patron": student,
        "loans": [loan],
        "selected": [loan.loan_id],
        "at": hk(2026, 3, 14),
        "library": "eduhk",
        "sequence": 1,
    }
    asked = renew_loans(hkall, **kwargs)
    assert asked.awaiting_approval == (loan.loan_id,)
    assert asked.transaction is None and asked.loans == (loan,)
    # The new due date is the lender's to give, by its own policy (ILL.md).
    assert asked.plan.outcomes[0].new_due_date is None


# Recall, loss --------------------------------------------------------------------------------


def test_hkall_11_recall_shortens_the_due_date_keeping_15_days(hkall):
    staff = patron(category="academic_staff")
    loan, _ = _loaned(hkall, book(library="hku"), who=staff, ill=True, lender="hku")
    assert loan.due_date == date(2026, 3, 31)
    result = recall_loan(hkall, loan, requested_by_library="hku", at=hk(2026, 3, 10))
    assert result.decision.allowed
    assert result.loan.due_date == date(2026, 3, 17)
    assert result.loan.recalled
    assert result.events[0].kind == "loan.recalled"


def test_hkall_10_borrowing_library_cannot_recall(hkall):
    staff = patron(category="academic_staff")
    loan, _ = _loaned(hkall, book(library="hku"), who=staff, ill=True, lender="hku")
    result = recall_loan(hkall, loan, requested_by_library="eduhk", at=hk(2026, 3, 10))
    assert result.decision.rules == ["HKALL-10"]
    assert result.loan == loan


def test_hkall_19_daily_sweep_marks_loans_assumed_lost(hkall):
    student = patron(category="student")
    loan, _ = _loaned(hkall, book(library="hku"), who=student, ill=True, lender="hku")
    changed, events = mark_assumed_lost(hkall, [loan], at=hk(2026, 3, 30))
    assert changed == []
    changed, events = mark_assumed_lost(hkall, [loan], at=hk(2026, 3, 31))
    assert changed[0].loss == "assumed_lost"
    assert events[0].state == "assumed_lost"


def test_hkall_19_privileges_stay_suspended_while_the_assumed_lost_book_is_out(hkall):
    student = patron(category="student")
    loan, _ = _loaned(hkall, book(library="hku"), who=student, ill=True, lender="hku")
    (lost,), _ = mark_assumed_lost(hkall, [loan], at=hk(2026, 3, 31))
    result = borrow(
        hkall,
        [book("N", library="cuhk")],
        hk(2026, 4, 2),
        loans=[lost],
        who=student,
        ill=True,
        lender="cuhk",
    )
    assert "HKALL-19" in result.decision.rules


def test_mala_09_daily_sweep_after_one_month(mala):
    member = patron(category="student", library="um")
    loan, _ = _loaned(mala, book(library="kwnc"), who=member, ill=True, lender="kwnc")
    assert loan.due_date == date(2026, 3, 15)
    assert mark_assumed_lost(mala, [loan], at=hk(2026, 4, 15))[0] == []
    assert mark_assumed_lost(mala, [loan], at=hk(2026, 4, 16))[0][0].loss == "assumed_lost"


def test_hkpl_13_lost_item_entry_with_surcharge(hkpl):
    loan, item = _loaned(hkpl)
    entry = lost_item_entry(
        hkpl,
        loan,
        item,
        at=hk(2026, 4, 1),
        replacement_cost=Money(amount_minor=18000, currency="HKD"),
    )
    assert entry.kind == "lost_item"
    assert entry.amount.amount_minor == 21600
    assert entry.rule == "HKPL-13"


def test_mala_11_lost_disc_is_half_the_price_of_its_book(mala):
    main, disc = book_with_disc(library="kwnc", price=Money(amount_minor=30000, currency="MOP"))
    member = patron(category="staff", library="um")
    lent = borrow(mala, [main, disc], hk(2026, 3, 2), who=member, ill=True, lender="kwnc")
    entry = lost_item_entry(mala, lent.loans[1], disc, at=hk(2026, 3, 20), main_item=main)
    assert entry.amount == Money(amount_minor=15000 + 10000, currency="MOP")


def test_loan_json_round_trip():
    loan = Loan(
        patron_id="P1",
        item_id="I1",
        owner_library="hkpl",
        checked_out_at=hk(2026, 3, 1),
        checkout_date=date(2026, 3, 1),
        due_date=date(2026, 3, 15),
    )
    assert Loan.model_validate_json(loan.model_dump_json()) == loan


def test_a_paid_ledger_lets_the_patron_borrow_again(hkpl):
    charge = LedgerEntry(
        patron_id="P1",
        kind="overdue_fine",
        amount=Money(amount_minor=13000, currency="HKD"),
        at=hk(2026, 3, 1),
        on=date(2026, 3, 1),
    )
    ledger = Ledger(patron_id="P1", currency="HKD").post(charge)
    assert not borrow(hkpl, [book()], hk(2026, 3, 2), ledger=ledger).decision
    paid = ledger.post(
        payment_entry(
            "P1",
            Money(amount_minor=13000, currency="HKD"),
            actor="counter:kpl",
            reason="paid in cash",
            at=hk(2026, 3, 2),
            on=date(2026, 3, 2),
        )
    )
    assert borrow(hkpl, [book()], hk(2026, 3, 2), ledger=paid).decision
