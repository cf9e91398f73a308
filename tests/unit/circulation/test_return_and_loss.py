"""Where a returned copy goes, and how a lost or damaged item's loan is settled, decided in
the domain: the status the item takes, the reservation it waits for, the loss recorded."""

from __future__ import annotations

from datetime import date

import pytest

from libs.common.money import Money
from services.circulation.domain.errors import LoanNotActive
from services.circulation.domain.holds import HoldQueue
from services.circulation.domain.lending import (
    checkout,
    lost_item_entry,
    return_loan,
    settle_loss,
)
from tests.unit.circulation.builders import book, book_with_disc, hk, patron


def lent(policy, *items):
    result = checkout(policy, patron=patron(), loans=[], items=list(items), at=hk(2026, 3, 1))
    return result.loans, result.items


def waiting_for(title_id: str, patron_id: str = "P2") -> HoldQueue:
    return (
        HoldQueue(title_id=title_id)
        .place(patron_id, pickup_location="kpl", at=hk(2026, 3, 3))
        .queue
    )


def test_a_returned_copy_nobody_waits_for_goes_back_on_the_shelf(hkpl):
    (loan,), (item,) = lent(hkpl, book())
    result = return_loan(hkpl, loan, item, at=hk(2026, 3, 5), queue=HoldQueue(title_id="T-I1"))
    assert result.item.status == "AVAILABLE"
    assert result.hold is None and result.holds == ()


def test_a_returned_copy_goes_to_the_first_reader_waiting_on_the_pickup_shelf(hkpl):
    (loan,), (item,) = lent(hkpl, book())
    result = return_loan(hkpl, loan, item, at=hk(2026, 3, 5), queue=waiting_for("T-I1"))
    assert result.item.status == "ON_HOLD_SHELF"
    assert result.hold is not None and result.hold.patron_id == "P2"
    assert result.hold.item_id == item.item_id and result.hold.status == "ready"
    assert "hold.ready" in [e.kind for e in result.events]


@pytest.mark.parametrize("status", ["WITHDRAWN", "DAMAGED"])
def test_a_withdrawn_or_damaged_copy_is_checked_in_but_keeps_its_status(hkpl, status):
    (loan,), (item,) = lent(hkpl, book())
    result = return_loan(
        hkpl, loan, item.with_status(status), at=hk(2026, 3, 5), queue=waiting_for("T-I1")
    )
    assert result.item.status == status
    assert result.hold is None
    assert not result.loan.active


def test_a_lost_copy_that_comes_back_is_found(hkpl):
    (loan,), (item,) = lent(hkpl, book())
    result = return_loan(hkpl, loan, item.with_status("LOST"), at=hk(2026, 3, 5))
    assert result.item.status == "AVAILABLE"


def test_hkpl_05_the_disc_waits_with_its_book_and_is_not_given_to_a_reservation(hkpl):
    main, disc = book_with_disc()
    loans, items = lent(hkpl, main, disc)
    result = return_loan(
        hkpl, loans[1], items[1], at=hk(2026, 3, 5), queue=waiting_for("T-S1-disc")
    )
    assert result.item.status == "AVAILABLE"
    assert result.hold is None


def test_hkpl_13_a_lost_item_ends_its_loan_recorded_as_lost_and_the_item_is_lost(hkpl):
    (loan,), (item,) = lent(hkpl, book())  # due 15 March
    at = hk(2026, 3, 20)
    cost = Money(amount_minor=18000, currency="HKD")
    charge = lost_item_entry(hkpl, loan, item, at=at, replacement_cost=cost)
    result = settle_loss(hkpl, loan, item, charge, at=at)
    assert result.item.status == "LOST"
    assert not result.loan.active
    assert result.loan.loss == "lost" and result.loan.loss_marked_on == date(2026, 3, 20)
    assert result.charge.kind == "lost_item" and result.charge.rule == "HKPL-13"
    assert result.fine_entry is not None and result.fine_entry.amount.amount_minor == 5 * 150
    posted = [e.entry_id for e in result.events if e.kind == "ledger.charge_posted"]
    assert posted == [result.fine_entry.entry_id, result.charge.entry_id]


def test_hkpl_13_a_damaged_item_ends_its_loan_without_a_loss_and_the_item_is_damaged(hkpl):
    (loan,), (item,) = lent(hkpl, book())
    at = hk(2026, 3, 10)
    charge = lost_item_entry(hkpl, loan, item, at=at, damaged=True)
    result = settle_loss(hkpl, loan, item, charge, at=at)
    assert result.item.status == "DAMAGED"
    assert result.loan.loss is None and not result.loan.active
    assert result.charge.kind == "damaged_item"
    assert result.fine_entry is None


def test_a_returned_loan_cannot_be_charged_as_lost(hkpl):
    (loan,), (item,) = lent(hkpl, book())
    returned = return_loan(hkpl, loan, item, at=hk(2026, 3, 5)).loan
    charge = lost_item_entry(hkpl, loan, item, at=hk(2026, 3, 6))
    with pytest.raises(LoanNotActive):
        settle_loss(hkpl, returned, item, charge, at=hk(2026, 3, 6))
