"""Which card opens the account at the counter: a lost, replaced or cancelled library card
and an unregistered or lost smart ID card are refused, each naming its rule."""

from __future__ import annotations

from datetime import date

import pytest

from services.circulation.domain.cards import borrowing_with_card
from services.circulation.domain.credentials import CredentialSet, LibraryCard, SmartIdCard
from services.circulation.domain.smart_id import SmartIdBorrowingRead
from services.circulation.domain.smart_id_use import borrowing_with_smart_id
from tests.unit.circulation.builders import hk

HKID = "A123456(3)"
ISSUED = date(2020, 5, 1)


def card(status: str = "active") -> LibraryCard:
    return LibraryCard(card_number="2000123456", issued_on=date(2024, 1, 1), status=status)


def test_an_active_card_opens_the_account():
    assert borrowing_with_card(card()).allowed


@pytest.mark.parametrize(
    ("status", "rule", "code"),
    [
        ("lost", "HKPL-15", "card_reported_lost"),
        ("replaced", "HKPL-15", "card_not_active"),
        ("cancelled", "HKPL-17", "card_not_active"),
    ],
)
def test_a_card_no_longer_in_use_is_refused_naming_its_rule(status, rule, code):
    decision = borrowing_with_card(card(status))
    assert not decision.allowed
    assert decision.rules == [rule]
    assert [r.code for r in decision.refusals] == [code]


def smart_id_account(**fields: object) -> CredentialSet:
    sid = SmartIdCard(hkid_number=HKID, date_of_issue=ISSUED, **fields)  # type: ignore[arg-type]
    return CredentialSet(patron_id="P1", smart_id=sid)


def read(date_of_issue: date = ISSUED) -> SmartIdBorrowingRead:
    return SmartIdBorrowingRead(hkid_number=HKID, date_of_issue=date_of_issue)


def test_hkpl_14_the_registered_smart_id_card_opens_the_account():
    assert borrowing_with_smart_id(smart_id_account(), read()).allowed


def test_hkpl_14_an_unregistered_smart_id_card_is_refused():
    for creds, reading in ((None, read()), (smart_id_account(), read(date(2025, 1, 1)))):
        decision = borrowing_with_smart_id(creds, reading)
        assert decision.rules == ["HKPL-14"]
        assert "not registered" in decision.refusals[0].reason


def test_hkpl_15_a_smart_id_card_reported_lost_says_so():
    creds = smart_id_account(status="lost", reported_lost_at=hk(2026, 3, 1))
    decision = borrowing_with_smart_id(creds, read())
    assert decision.rules == ["HKPL-15"]
    assert "reported lost" in decision.refusals[0].reason
