"""Rules the account decides for itself: who may pay a minor's charges and who stands as
guarantor at registration (HKPL-16), and what a suspended or cancelled account refuses."""

from __future__ import annotations

from datetime import date

from services.circulation.domain.guarantee import payment_refusal
from services.circulation.domain.patrons import block_refusals, registration_guarantor_decision
from tests.unit.circulation.builders import guarantor, hk, patron

PARENT = patron(patron_id="G1", date_of_birth=date(1980, 1, 1))
CHILD = patron(
    patron_id="M1",
    category="junior",
    date_of_birth=date(2012, 5, 1),
    guarantor=guarantor(patron_id="G1"),
)


def test_hkpl_16_the_borrower_or_the_linked_guarantor_pays():
    assert payment_refusal(CHILD, "M1") is None
    assert payment_refusal(CHILD, "G1") is None
    refusal = payment_refusal(CHILD, "X9")
    assert refusal is not None
    assert (refusal.rule, refusal.code) == ("HKPL-16", "not_the_guarantor")


def test_hkpl_16_an_applicant_under_18_registers_with_an_adult_guarantor(today):
    decision = registration_guarantor_decision(PARENT, applicant_born=date(2015, 1, 1), on=today)
    assert decision.allowed


def test_hkpl_16_an_adult_applicant_needs_no_guarantor(today):
    decision = registration_guarantor_decision(PARENT, applicant_born=date(1990, 1, 1), on=today)
    assert decision.rules == ["HKPL-16"]
    assert decision.refusals[0].code == "guarantor_not_needed"


def test_hkpl_16_a_guarantor_who_may_not_stand_is_refused_at_registration(today):
    young = patron(patron_id="G2", date_of_birth=date(2012, 1, 1))
    decision = registration_guarantor_decision(young, applicant_born=date(2015, 1, 1), on=today)
    assert [r.code for r in decision.refusals] == ["guarantor_not_adult"]


def test_a_suspended_or_cancelled_account_refuses_naming_each_rule():
    assert block_refusals(PARENT, "reservation") == []
    suspended, _ = PARENT.suspend(
        rule="HKPL-15",
        reason="a card was reported lost",
        at=hk(2026, 3, 1),
        on=date(2026, 3, 1),
        ref="2000123456",
        code="card_reported_lost",
    )
    cancelled, _ = suspended.cancel(at=hk(2026, 3, 2), on=date(2026, 3, 2))
    refusals = block_refusals(cancelled, "reservation")
    assert [(r.rule, r.action) for r in refusals] == [
        ("HKPL-15", "reservation"),
        ("HKPL-17", "reservation"),
    ]
