"""An account's standing in the portal and at the desk: a card reported lost suspends the
account (HKPL-15), shown with its reason to the patron, who still signs in with the smart ID
card's HKID number (HKPL-08); the replacement card's fee (HKPL-12) is paid at the desk."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.browser.conftest import accessible, shot
from tests.browser.helpers import sign_in_desk, sign_in_patron, token


def test_a_suspension_is_shown_with_its_reason_and_a_fee_is_paid_at_the_desk(page, federation):
    """HKPL-08, HKPL-12, HKPL-15"""
    staff = {"Authorization": f"Bearer {token(federation, 'hkpl', 'hkpl')}"}
    lost = httpx.post(federation.url("hkpl", "/api/v1/cards/HKPL000002/lost"), headers=staff)
    assert lost.status_code == 200, lost.text

    sign_in_patron(page, federation, "hkpl", "A123456(3)", "4567")
    suspensions = page.locator("section", has=page.get_by_role("heading", name="Suspensions"))
    assert "HKPL-15" in suspensions.inner_text()
    accessible(page, "suspended")

    replaced = httpx.post(
        federation.url("hkpl", "/api/v1/cards/HKPL000002/replacement"),
        json={"new_card_number": "HKPL000092"},
        headers={**staff, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert replaced.status_code == 201, replaced.text

    sign_in_desk(page, federation, "hkpl")
    page.wait_for_url(re.compile(r"/desk/$"))
    page.goto(federation.url("hkpl", "/desk/patrons?card=HKPL000092"))
    assert page.locator("#outstanding").inner_text() == "HKD 33.00"
    accessible(page, "fee-owed")
    page.get_by_label(re.compile("Amount paid")).fill("33.00")
    page.get_by_role("button", name=re.compile("Take payment")).click()
    assert "HKD 33.00" in page.locator(".flash").inner_text()
    assert page.locator("#outstanding").inner_text() == "HKD 0.00"
    shot(page, "paid")
