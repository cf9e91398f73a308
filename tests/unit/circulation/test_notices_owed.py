"""Which notices an operation owes, decided in the domain: one e-mail for a lost card report
and the suspension it causes (HKPL-15), the fine notice copied to a minor's guarantor
(HKPL-16), and one renewal denial a day for the same refused items (HKALL-13)."""

from __future__ import annotations

from datetime import date

from libs.common.policy import Decision, Refusal
from libs.common.policy.renewal import RenewalOutcome, RenewalPlan
from services.circulation.domain.events import (
    AccountSuspended,
    ChargePosted,
    CredentialReportedLost,
    LoanRenewed,
)
from services.circulation.domain.notices import (
    events_owing_notices,
    guarantor_copy,
    liable_guarantor,
    renewal_denial_id,
)
from tests.unit.circulation.builders import guarantor, hk, patron

AT = hk(2026, 3, 2)
ON = date(2026, 3, 2)


def suspended(patron_id: str = "P1") -> AccountSuspended:
    return AccountSuspended(occurred_at=AT, patron_id=patron_id, rule="HKPL-15", reason="lost")


def lost_card(patron_id: str = "P1") -> CredentialReportedLost:
    return CredentialReportedLost(
        occurred_at=AT, patron_id=patron_id, credential="library_card", reference="2000123456"
    )


def charge(kind: str = "overdue_fine") -> ChargePosted:
    return ChargePosted(
        occurred_at=AT,
        entry_id="E1",
        patron_id="P1",
        entry_kind=kind,
        amount_minor=150,
        currency="HKD",
        rule="HKPL-10",
    )


def test_hkpl_15_a_lost_card_report_is_one_notice_not_two():
    assert events_owing_notices([lost_card(), suspended()]) == [lost_card()]


def test_a_suspension_of_another_account_is_still_told():
    assert events_owing_notices([lost_card("P1"), suspended("P2")]) == [
        lost_card("P1"),
        suspended("P2"),
    ]


def test_fines_and_charges_are_told_payments_and_other_events_are_not():
    renewed = LoanRenewed(
        occurred_at=AT,
        loan_id="L1",
        patron_id="P1",
        item_id="I1",
        new_due_date=ON,
        transaction_ref="HKPL-20260302-000001",
    )
    events = [charge("overdue_fine"), charge("payment"), charge("lost_item"), renewed]
    assert events_owing_notices(events) == [charge("overdue_fine"), charge("lost_item")]


def minor_with_guarantor(**fields: object):
    values: dict[str, object] = {"guarantor": guarantor(patron_id="G1")}
    values.update(fields)
    return patron(category="child", date_of_birth=date(2015, 1, 1), **values)


def test_hkpl_16_a_minors_fine_is_copied_to_the_linked_guarantor():
    minor = minor_with_guarantor()
    assert liable_guarantor(minor, on=ON) == "G1"
    copy = guarantor_copy(minor, patron(patron_id="G1"), charge(), on=ON)
    assert copy is not None
    assert copy.notice_id == "charge:E1:guarantor"
    assert "HKPL-16" in copy.reason and minor.name_en in copy.reason


def test_hkpl_16_no_copy_after_the_18th_birthday_nor_to_an_unlinked_or_cancelled_guarantor():
    minor = minor_with_guarantor()
    adult_on = date(2033, 1, 1)
    assert liable_guarantor(minor, on=adult_on) is None
    assert guarantor_copy(minor, patron(patron_id="G1"), charge(), on=adult_on) is None
    unlinked = minor_with_guarantor(guarantor=guarantor())
    assert liable_guarantor(unlinked, on=ON) is None
    cancelled = patron(patron_id="G1", cancelled_on=date(2026, 1, 1))
    assert guarantor_copy(minor, cancelled, charge(), on=ON) is None
    assert guarantor_copy(minor, None, charge(), on=ON) is None


def plan(*codes: str) -> RenewalPlan:
    refusals = [Refusal(rule="HKPL-03", code=c, action="renewal", reason=c) for c in codes]
    outcome = RenewalOutcome(
        loan_id="L1", item_id="I1", decision=Decision.of("renewal", refusals), due_date=ON
    )
    return RenewalPlan(renewal_day=ON, outcomes=(outcome,))


def test_hkall_13_a_refused_renewal_asked_again_the_same_day_is_one_notice():
    assert renewal_denial_id("P1", plan("reserved"), None) == renewal_denial_id(
        "P1", plan("reserved"), None
    )
    assert renewal_denial_id("P1", plan("reserved"), None) != renewal_denial_id(
        "P1", plan("reserved", "limit"), None
    )
    assert renewal_denial_id("P1", plan("reserved"), "HKPL-20260302-000001") == (
        "renewal-denied:HKPL-20260302-000001"
    )
