"""The fines and fees ledger: balance, payments and waivers, ceiling (HKPL-03, MALA-10)."""

from __future__ import annotations

from datetime import date

import pytest

from libs.common.money import Money
from libs.common.policy import card_replacement_fee, overdue_fine
from services.circulation.domain.ledger import (
    Ledger,
    LedgerEntry,
    charge_entry,
    fine_entry,
    payment_entry,
    waiver_entry,
)
from tests.unit.circulation.builders import hk


def hkd(cents: int) -> Money:
    return Money(amount_minor=cents, currency="HKD")


def charge(cents: int, on: date, item_id: str | None = None, kind: str = "overdue_fine"):
    return LedgerEntry(
        patron_id="P1",
        kind=kind,
        amount=hkd(cents),
        at=hk(on.year, on.month, on.day),
        on=on,
        item_id=item_id,
    )


def ledger(*entries: LedgerEntry) -> Ledger:
    return Ledger(patron_id="P1", currency="HKD").post(*entries)


def test_balance_is_charges_less_payments_and_waivers():
    fine = charge(450, date(2026, 3, 1), "I1")
    book = ledger(
        fine,
        charge(3300, date(2026, 3, 2), kind="card_replacement"),
        payment_entry(
            "P1",
            hkd(1000),
            actor="counter:kpl",
            reason="cash",
            at=hk(2026, 3, 3),
            on=date(2026, 3, 3),
        ),
        waiver_entry(
            "P1",
            hkd(450),
            actor="staff:lee",
            reason="book drop jammed",
            at=hk(2026, 3, 3),
            on=date(2026, 3, 3),
            applies_to=fine.entry_id,
        ),
    )
    assert book.balance() == hkd(2300)
    assert book.outstanding_for_item("I1") == 0


def test_payments_and_waivers_record_who_and_why():
    with pytest.raises(ValueError, match="who made it and why"):
        LedgerEntry(
            patron_id="P1", kind="payment", amount=hkd(100), at=hk(2026, 3, 1), on=date(2026, 3, 1)
        )
    with pytest.raises(ValueError, match="positive"):
        charge(0, date(2026, 3, 1))


def test_a_waiver_cannot_exceed_what_is_owed():
    book = ledger(charge(300, date(2026, 3, 1)))
    with pytest.raises(ValueError, match="exceed"):
        book.post(
            waiver_entry(
                "P1", hkd(301), actor="staff", reason="x", at=hk(2026, 3, 2), on=date(2026, 3, 2)
            )
        )


def test_ledger_refuses_another_currency_or_patron():
    with pytest.raises(ValueError, match="HKD"):
        ledger().post(
            LedgerEntry(
                patron_id="P1",
                kind="overdue_fine",
                amount=Money(amount_minor=200, currency="MOP"),
                at=hk(2026, 3, 1),
                on=date(2026, 3, 1),
            )
        )
    with pytest.raises(ValueError, match="another patron"):
        ledger().post(charge(100, date(2026, 3, 1)).model_copy(update={"patron_id": "P2"}))


def test_payments_settle_the_oldest_charge_first():
    book = ledger(
        charge(500, date(2026, 1, 1), "old"),
        charge(500, date(2026, 2, 1), "new"),
        payment_entry(
            "P1", hkd(700), actor="online", reason="FPS", at=hk(2026, 2, 2), on=date(2026, 2, 2)
        ),
    )
    assert book.outstanding_for_item("old") == 0
    assert book.outstanding_for_item("new") == 300
    assert book.oldest_unpaid_charge_on() == date(2026, 2, 1)


def test_hkpl_03_ceiling_from_the_ledger_alone(hkpl):
    assert ledger(charge(12999, date(2026, 3, 1))).charges_decision(hkpl, date(2026, 3, 2))
    decision = ledger(charge(13000, date(2026, 3, 1))).charges_decision(hkpl, date(2026, 3, 2))
    assert decision.rules == ["HKPL-03"]


def test_hkpl_03_charge_unpaid_past_the_overdue_time_limit(hkpl):
    book = ledger(charge(100, date(2026, 1, 1)))
    assert book.charges_decision(hkpl, date(2026, 3, 2))  # 60 days
    assert book.charges_decision(hkpl, date(2026, 3, 3)).rules == ["HKPL-03"]


def test_mala_10_any_unpaid_fine_blocks(mala):
    book = Ledger(patron_id="P1", currency="MOP").post(
        LedgerEntry(
            patron_id="P1",
            kind="overdue_fine",
            amount=Money(amount_minor=200, currency="MOP"),
            at=hk(2026, 3, 1),
            on=date(2026, 3, 1),
        )
    )
    assert book.charges_decision(mala, date(2026, 3, 1), action="request").rules == ["MALA-10"]


def test_entries_from_fines_and_charges_carry_their_rule(hkpl):
    fine = fine_entry(
        "P1",
        overdue_fine(hkpl, 3),
        at=hk(2026, 3, 5),
        on=date(2026, 3, 5),
        loan_id="L1",
        item_id="I1",
    )
    assert fine.rule == "HKPL-10" and fine.amount == hkd(450)
    assert fine.description == "3 days overdue at HKD 1.50 a day"
    assert fine_entry("P1", overdue_fine(hkpl, 0), at=hk(2026, 3, 5), on=date(2026, 3, 5)) is None
    card = charge_entry(
        "P1", card_replacement_fee(hkpl, age=30), at=hk(2026, 3, 5), on=date(2026, 3, 5)
    )
    assert card.kind == "card_replacement" and card.amount == hkd(3300)
    assert card.rule == "HKPL-12"
