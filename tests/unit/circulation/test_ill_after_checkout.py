"""An inter-library loan after the checkout, in the pure code: fines on the lender's terms
(HKALL-16, HKALL-17, MALA-08), suspensions from a recalled or capped ILL loan refusing ILL
requests too (HKALL-18, HKALL-19), assumed lost (HKALL-19, MALA-09), the lender's charge by
its own policy (HKALL-20, MALA-11), the loan ended by it, and the lifting of a suspension."""

from __future__ import annotations

from datetime import date

import pytest

from libs.common.money import Money
from libs.common.policy import assumed_lost_on, loan_fine, loan_fine_at
from services.circulation.domain import lending
from services.circulation.domain.ill_lending_charges import (
    charge_reply,
    is_overdue,
    priced_charge,
    staff_charge,
)
from services.circulation.domain.ill_loss import end_charged_loan, fully_paid, lender_charge_entry
from services.circulation.domain.ill_supplier import LendingState
from services.circulation.domain.ledger import Ledger, payment_entry
from services.circulation.domain.loan import Loan
from services.circulation.domain.loan_terms import lender_terms_of, loan_terms
from services.circulation.domain.suspension_lifted import Noticed, liftings_owed

from .builders import book, book_with_disc, hk
from .test_ill_requester_eligibility import decide, record

DUE = date(2026, 12, 16)


def ill_loan(policy, **fields) -> Loan:
    """A student's HKALL loan of cityu's book, on the terms cityu sent with Loaned."""
    terms = loan_terms(
        policy, patron_category="student", shipped_on=date(2026, 12, 1), material_type="book"
    )
    values: dict = dict(
        patron_id="P1",
        item_id="ill:t1",
        owner_library="cityu",
        ill=True,
        lender="cityu",
        checked_out_at=hk(2026, 12, 1),
        checkout_date=date(2026, 12, 1),
        due_date=DUE,
        borrowed_with="ill",
        lender_terms=lender_terms_of(terms, fallback_rule=policy.fines.rule),
    )
    values.update(fields)
    return Loan(**values)


# ------------------------------------------------------------------------ fines on terms


def test_HKALL_16_10_days_late_is_20_dollars_on_the_lenders_terms(hkall):
    fine = loan_fine(hkall, ill_loan(hkall).facts(), date(2026, 12, 26))
    assert (fine.amount, fine.rule) == (Money(amount_minor=2000, currency="HKD"), "HKALL-16")


def test_HKALL_16_a_recalled_loan_runs_at_4_dollars(hkall):
    loan = ill_loan(hkall, recalled_on=date(2026, 12, 3), due_date=date(2026, 12, 10))
    assert loan_fine(hkall, loan.facts(), date(2026, 12, 20)).amount.amount_minor == 4000


def test_the_lenders_terms_not_the_home_policy_set_the_fine_and_currency(hkall, mala):
    # A loan lent on MALA terms (MOP 2 a day up to MOP 60), fined at an HKALL library.
    mala_terms = loan_terms(
        mala, patron_category="student", shipped_on=date(2026, 12, 1), material_type="book"
    )
    loan = ill_loan(hkall, lender_terms=lender_terms_of(mala_terms, fallback_rule="HKALL-16"))
    fine = loan_fine(hkall, loan.facts(), date(2027, 2, 1))
    assert (fine.amount, fine.rule) == (Money(amount_minor=6000, currency="MOP"), "MALA-08")


def test_HKALL_17_no_cap_once_claimed_returned_and_the_fine_stops_at_the_claim(hkall):
    loan = ill_loan(hkall)
    claimed, _ = lending.mark_loss(loan, "claimed_returned", at=hk(2027, 1, 5), on=date(2027, 1, 5))
    # still out: capped at $30, and nothing after the claim
    assert loan_fine(hkall, claimed.facts(), date(2027, 1, 20)).amount.amount_minor == 3000
    back = loan_fine_at(hkall, claimed.facts(returning=True), hk(2027, 1, 12))
    assert (back.amount.amount_minor, back.rule) == (4000, "HKALL-17")


# ---------------------------------------------------------------- suspension, assumed lost


def test_HKALL_18_a_recalled_ill_loan_overdue_refuses_ill_requests_too(hkall):
    late = ill_loan(hkall, recalled_on=date(2026, 11, 25), due_date=date(2026, 11, 30))
    d = decide(hkall, record(("hku", "HKALL", "AVAILABLE")), loans=[late])
    assert "HKALL-18" in d.decision.rules


def test_HKALL_19_the_maximum_fine_refuses_ill_requests(hkall):
    capped = ill_loan(hkall, due_date=date(2026, 11, 15))  # 16 days late on 1 December
    d = decide(hkall, record(("hku", "HKALL", "AVAILABLE")), loans=[capped])
    assert "HKALL-19" in d.decision.rules


def test_HKALL_19_and_MALA_09_the_day_an_ill_loan_is_assumed_lost(hkall, mala):
    assert assumed_lost_on(hkall, ill_loan(hkall).facts()) == date(2026, 12, 31)
    mala_loan = ill_loan(mala, due_date=date(2026, 12, 15))
    assert assumed_lost_on(mala, mala_loan.facts()) == date(2027, 1, 16)
    changed, _ = lending.mark_assumed_lost(mala, [mala_loan], at=hk(2027, 1, 16))
    assert [c.loss for c in changed] == ["assumed_lost"]


# ------------------------------------------------------------------- the lender's charge


def test_the_lenders_daily_job_says_overdue_once():
    assert is_overdue(LendingState.LOANED, DUE, date(2026, 12, 17))
    assert not is_overdue(LendingState.LOANED, DUE, DUE)
    assert not is_overdue(LendingState.OVERDUE, DUE, date(2026, 12, 20))  # told already
    assert not is_overdue(LendingState.RETURN_SHIPPED, DUE, date(2026, 12, 20))


def mop(minor: int) -> Money:
    return Money(amount_minor=minor, currency="MOP")


def test_MALA_11_the_price_plus_the_fee(mala):
    charge = priced_charge(mala, book(price=mop(45000)), kind="lost_item")
    assert charge is not None and (charge.total, charge.rule) == (mop(55000), "MALA-11")


def test_MALA_11_a_disc_is_half_the_books_price_plus_the_fee(mala):
    main, disc = book_with_disc(price=mop(40000))
    charge = priced_charge(mala, disc, kind="lost_item", main_item=main)
    assert charge is not None and charge.total == mop(30000)


def test_MALA_11_no_price_mop_1_a_page_plus_the_fee(mala):
    charge = priced_charge(mala, book(price=None, pages=250), kind="lost_item")
    assert charge is not None and charge.total == mop(35000)


def test_HKALL_20_nothing_to_price_it_by_leaves_it_to_staff(hkall):
    assert priced_charge(hkall, book(price=None, pages=None), kind="lost_item") is None
    staff = staff_charge(hkall, 65000, kind="lost_item")
    assert (staff.total.amount_minor, staff.total.currency, staff.rule) == (
        65000,
        "HKD",
        "HKALL-20",
    )


def test_a_lost_copy_completes_without_return_a_damaged_one_is_a_notification(mala):
    lost = priced_charge(mala, book(price=mop(10000)), kind="lost_item")
    damaged = priced_charge(mala, book(price=mop(10000)), kind="damaged_item")
    assert lost is not None and damaged is not None
    reply = charge_reply(LendingState.LOST, lost)
    assert (reply.status, reply.charge_kind, reply.charge_rule) == (
        "CompletedWithoutReturn",
        "lost_item",
        "MALA-11",
    )
    assert reply.charge is not None and reply.charge.amount_minor == 20000
    note = charge_reply(LendingState.OVERDUE, damaged)
    assert (note.status, note.reason, note.charge_kind) == (
        "Overdue",
        "Notification",
        "damaged_item",
    )


# ----------------------------------------------------------------------- at home, charged


def test_HKALL_20_the_charge_posted_names_the_lender_and_the_transaction(hkall):
    entry = lender_charge_entry(
        "P1",
        kind="lost_item",
        amount=Money(amount_minor=48000, currency="HKD"),
        rule="HKALL-20",
        lender="cityu",
        transaction_id="txn-1",
        at=hk(2026, 12, 31),
        on=date(2026, 12, 31),
        loan_id="L1",
        item_id="ill:t1",
    )
    assert entry.kind == "lost_item" and entry.rule == "HKALL-20"
    assert entry.description is not None and "cityu" in entry.description
    assert "txn-1" in entry.description


def test_the_charge_ends_the_loan_with_the_fine_capped_by_its_terms(hkall):
    loan, _ = lending.mark_loss(
        ill_loan(hkall), "assumed_lost", at=hk(2026, 12, 31), on=date(2026, 12, 31)
    )
    ended, fine, events = end_charged_loan(hkall, loan, at=hk(2027, 1, 10))
    assert ended.returned_at == hk(2027, 1, 10) and ended.loss == "lost"
    # never came back: HKALL-17 does not lift the cap
    assert fine is not None and (fine.amount.amount_minor, fine.rule) == (3000, "HKALL-16")
    assert len(events) == 1


def test_a_charge_paid_in_full_is_told_once():
    charge = lender_charge_entry(
        "P1",
        kind="lost_item",
        amount=Money(amount_minor=5000, currency="HKD"),
        rule="HKALL-20",
        lender="cityu",
        transaction_id="t",
        at=hk(2026, 12, 1),
        on=date(2026, 12, 1),
        loan_id=None,
        item_id=None,
    )
    ledger = Ledger(patron_id="P1", currency="HKD", entries=(charge,))
    assert fully_paid(ledger, [charge.entry_id]) == set()
    half = payment_entry(
        "P1",
        Money(amount_minor=2500, currency="HKD"),
        actor="desk",
        reason="cash",
        at=hk(2026, 12, 2),
        on=date(2026, 12, 2),
    )
    assert fully_paid(ledger.post(half), [charge.entry_id]) == set()
    assert fully_paid(
        ledger.post(half, half.model_copy(update={"entry_id": "x"})), [charge.entry_id]
    ) == {charge.entry_id}


# -------------------------------------------------------------------- suspension lifted


@pytest.mark.parametrize("returned", [True, False])
def test_HKALL_18_the_lifting_is_owed_once_the_recalled_item_is_back(hkall, returned):
    loan = ill_loan(hkall, recalled_on=date(2026, 12, 3), due_date=date(2026, 12, 10))
    if returned:
        loan = loan.model_copy(update={"returned_at": hk(2026, 12, 20)})
    owed = liftings_owed(
        hkall,
        [Noticed(loan.loan_id, "HKALL-18")],
        {loan.loan_id: loan},
        on=date(2026, 12, 20),
        library="eduhk",
        patron_loans={"P1": [] if returned else [loan]},
    )
    if not returned:
        assert owed == []  # still out and overdue: still suspended
        return
    [notice] = owed
    assert (notice.kind, notice.rule) == ("suspension_lifted", "HKALL-18")
    assert notice.reason is not None and "restored" in notice.reason
    again = liftings_owed(
        hkall,
        [Noticed(loan.loan_id, "HKALL-18")],
        {loan.loan_id: loan},
        on=date(2026, 12, 21),
        library="eduhk",
        patron_loans={},
        sent={notice.notice_id},
    )
    assert again == []


def test_HKALL_19_another_suspending_loan_is_named_in_the_lifting(hkall):
    charged = ill_loan(hkall, due_date=date(2026, 11, 1)).model_copy(
        update={"returned_at": hk(2026, 12, 20)}
    )
    other = ill_loan(hkall, item_id="ill:t2", due_date=date(2026, 11, 1))
    [notice] = liftings_owed(
        hkall,
        [Noticed(charged.loan_id, "HKALL-19")],
        {charged.loan_id: charged},
        on=date(2026, 12, 20),
        library="eduhk",
        patron_loans={"P1": [other]},
    )
    assert notice.reason is not None and "still suspends" in notice.reason
