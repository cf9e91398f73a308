"""HKPL-16: the guarantor of a borrower under 18 is a registered adult resident, liable for
the borrower's charges (those incurred while the borrower was under 18)."""

from __future__ import annotations

from datetime import date

from libs.common.money import Money
from services.circulation.domain.guarantee import guarantor_liability, may_pay_for
from services.circulation.domain.ledger import Ledger, LedgerEntry, payment_entry
from services.circulation.domain.patrons import Address, guarantor_refusals, link_guarantor
from tests.unit.circulation.builders import guarantor, hk, patron

PARENT = patron(patron_id="G1", name_en="CHAN, Tai Man", date_of_birth=date(1980, 1, 1))
CHILD = patron(patron_id="M1", category="junior", date_of_birth=date(2012, 5, 1))


def charge(entry_id: str, amount: int, on: date) -> LedgerEntry:
    return LedgerEntry(
        entry_id=entry_id,
        patron_id="M1",
        kind="overdue_fine",
        amount=Money(amount_minor=amount, currency="HKD"),
        at=hk(on.year, on.month, on.day),
        on=on,
        rule="HKPL-10",
    )


def test_hkpl_16_linking_a_registered_adult_resident_copies_their_details(today):
    decision, linked = link_guarantor(CHILD, PARENT, "parent", on=today)
    assert decision.allowed
    assert linked.guarantor is not None
    assert (linked.guarantor.patron_id, linked.guarantor.name) == ("G1", "CHAN, Tai Man")
    assert linked.guarantor.date_of_birth == date(1980, 1, 1)


def test_hkpl_16_a_guarantor_under_18_not_resident_or_cancelled_is_refused(today):
    young = patron(patron_id="G2", date_of_birth=date(2010, 1, 1))
    abroad = patron(patron_id="G3", address=Address(lines=("1 Rua",), region="MO"))
    gone, _ = patron(patron_id="G4").cancel(at=hk(2026, 1, 1), on=date(2026, 1, 1))
    codes = {
        p.patron_id: [r.code for r in guarantor_refusals(p, minor_id="M1", on=today)]
        for p in (young, abroad, gone)
    }
    assert codes == {
        "G2": ["guarantor_not_adult"],
        "G3": ["guarantor_not_resident"],
        "G4": ["guarantor_account_cancelled"],
    }
    decision, unchanged = link_guarantor(CHILD, young, "adult_resident", on=today)
    assert decision.rules == ["HKPL-16"] and unchanged == CHILD
    assert decision.messages == [
        "guarantor link refused: the guarantor must be aged 18 or above (HKPL-16)"
    ]


def test_hkpl_16_only_a_borrower_under_18_is_linked_and_not_to_themself(today):
    decision, _ = link_guarantor(PARENT, PARENT, "parent", on=today)
    assert [r.code for r in decision.refusals] == [
        "guarantor_not_needed",
        "guarantor_is_applicant",
    ]


def test_hkpl_16_the_guarantor_is_liable_for_unpaid_charges_incurred_under_18():
    minor = CHILD.model_copy(update={"guarantor": guarantor(patron_id="G1")})
    ledger = Ledger(patron_id="M1", currency="HKD").post(
        charge("C1", 300, date(2029, 1, 10)),
        charge("C2", 450, date(2030, 4, 30)),  # the day before the 18th birthday
        charge("C3", 150, date(2030, 5, 1)),  # from the 18th birthday: the borrower's alone
        payment_entry(
            "M1",
            Money(amount_minor=300, currency="HKD"),
            actor="desk",
            reason="cash",
            at=hk(2030, 5, 2),
            on=date(2030, 5, 2),
            paid_by="G1",
        ),
    )
    liability = guarantor_liability(minor, ledger)
    assert liability is not None and liability.rule == "HKPL-16"
    assert [(c.entry_id, c.unpaid_minor) for c in liability.charges] == [("C2", 450)]
    assert liability.outstanding_minor == 450
    assert guarantor_liability(CHILD, ledger) is None  # no guarantor recorded


def test_hkpl_16_a_payment_is_the_borrowers_or_their_linked_guarantors():
    minor = CHILD.model_copy(update={"guarantor": guarantor(patron_id="G1")})
    assert may_pay_for(minor, "M1") and may_pay_for(minor, "G1")
    assert not may_pay_for(minor, "G9")
    assert not may_pay_for(CHILD.model_copy(update={"guarantor": guarantor()}), "G1")
