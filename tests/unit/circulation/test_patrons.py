"""Patrons: age, standing, and registration with a guarantor (HKPL-16)."""

from __future__ import annotations

from datetime import date

import pytest

from services.circulation.domain.patrons import age_on, register_patron
from tests.unit.circulation.builders import application, guarantor, hk, patron


def test_age_counts_whole_years_on_the_day():
    assert age_on(date(2008, 3, 2), date(2026, 3, 1)) == 17
    assert age_on(date(2008, 3, 2), date(2026, 3, 2)) == 18
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


def test_hkpl_16_under_18_without_a_guarantor_is_refused(today):
    result = register_patron(
        application(date_of_birth=date(2012, 5, 1), category="junior"), at=hk(2026, 3, 2), on=today
    )
    assert result.patron is None
    assert result.decision.rules == ["HKPL-16"]
    assert result.decision.messages == [
        "registration refused: an applicant under 18 needs a guarantor: a parent, a guardian "
        "or another adult resident (HKPL-16)"
    ]


def test_hkpl_16_the_guarantor_must_be_an_adult(today):
    result = register_patron(
        application(
            date_of_birth=date(2012, 5, 1),
            guarantor=guarantor(relationship="adult_resident", date_of_birth=date(2010, 1, 1)),
        ),
        at=hk(2026, 3, 2),
        on=today,
    )
    assert result.decision.refusals[0].code == "guarantor_not_adult"


def test_hkpl_16_under_18_with_a_parent_as_guarantor_is_registered(today):
    result = register_patron(
        application(date_of_birth=date(2012, 5, 1), category="junior", guarantor=guarantor()),
        at=hk(2026, 3, 2),
        on=today,
        patron_id="P9",
    )
    assert result.decision.allowed
    assert result.patron is not None
    assert result.patron.patron_id == "P9"
    assert result.patron.guarantor is not None
    assert result.patron.status == "active"
    assert result.events[0].kind == "patron.registered"


def test_adult_needs_no_guarantor(today):
    result = register_patron(application(), at=hk(2026, 3, 2), on=today)
    assert result.decision.allowed
    assert result.patron.language == "en"


def test_language_preference_is_english_or_traditional_chinese():
    assert patron(language="zh-Hant").language == "zh-Hant"
    with pytest.raises(ValueError):
        patron(language="fr")


def test_suspension_and_lifting_change_the_status(today):
    p, events = patron().suspend(
        rule="HKPL-15", reason="card lost", at=hk(2026, 3, 2), on=today, ref="C1"
    )
    assert p.status == "suspended"
    assert events[0].kind == "account.suspended"
    again, none = p.suspend(
        rule="HKPL-15", reason="card lost", at=hk(2026, 3, 2), on=today, ref="C1"
    )
    assert again == p and none == []
    lifted, events = p.lift(rule="HKPL-15", ref="C1", at=hk(2026, 3, 3))
    assert lifted.status == "active"
    assert events[0].kind == "account.suspension_lifted"


def test_hkpl_17_cancelled_account_is_blocked(today):
    cancelled, _ = patron().cancel(at=hk(2026, 3, 2), on=today)
    assert cancelled.status == "cancelled"
    assert [b.rule for b in cancelled.blocks()] == ["HKPL-17"]


def test_registration_date_of_birth_in_the_future_is_an_error(today):
    with pytest.raises(ValueError):
        register_patron(application(date_of_birth=date(2030, 1, 1)), at=hk(2026, 3, 2), on=today)


def test_patron_json_carries_the_status():
    assert patron().model_dump(mode="json")["status"] == "active"
