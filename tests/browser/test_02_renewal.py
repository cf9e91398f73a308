"""A Hong Kong Public Libraries patron borrows at the desk, then renews online and sees the
Transaction Reference Number and the new due date (HKPL-06), and can look the number up."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.browser.conftest import accessible, shot
from tests.browser.helpers import sign_in_desk, sign_in_patron


def test_hkpl_renewal_shows_the_transaction_reference_number(page, federation):
    """HKPL-02, HKPL-06"""
    sign_in_desk(page, federation, "hkpl")
    page.wait_for_url(re.compile(r"/desk/$"))
    accessible(page, "desk-home")
    page.get_by_label(re.compile("Library card number|圖書證號碼")).first.fill("HKPL000001")
    page.get_by_label(re.compile("Item barcode|條碼")).first.fill("HKPL00000")
    page.get_by_role("button", name=re.compile("^(Check out|借出)$")).first.click()
    assert re.search("Checked out|已借出", page.locator(".flash").inner_text())
    shot(page, "checked-out")
    page.goto(federation.url("hkpl", "/desk/patrons?card=HKPL000001"))
    accessible(page, "desk-patron")

    # Five days later the renewal moves the due date (HKPL-02: 14 days from the day of renewal).
    federation.clock.advance(timedelta(days=5))
    sign_in_patron(page, federation, "hkpl", "HKPL000001", "demo-reader")
    loan = page.locator("tr.loan").first
    loan.get_by_role("checkbox").check()
    accessible(page, "account-loans")
    sent = {
        name: page.locator(f"form[action$='/renewals'] input[name={name}]").input_value()
        for name in ("csrf_token", "form_key")
    }
    sent["loan_id"] = loan.get_by_role("checkbox").input_value()
    page.get_by_role("button", name=re.compile("Renew selected|續借所選項目")).click()
    reference = page.locator("#transaction-ref").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9-]{6,}", reference), reference
    # The same form sent again (a double click, a reload): renewed once, the same answer.
    again = page.request.post(federation.url("hkpl", "/portal/renewals"), form=sent)
    assert again.status == 200 and reference in again.text()
    assert page.locator("td.new-due").first.inner_text().strip()
    accessible(page, "renewed")

    page.goto(federation.url("hkpl", "/portal/account"))
    page.get_by_role("link", name=reference).click()
    assert page.locator("#transaction-ref").inner_text().strip() == reference
    shot(page, "looked-up")


def test_a_patron_reserves_a_title_on_their_own_librarys_shelves(page, federation):
    """HKALL-04 (scope: my library), HKPL-11"""
    sign_in_patron(page, federation, "hkpl", "HKPL000001", "demo-reader")
    page.goto(federation.url("hkpl", "/portal/search?scope=library&q=Macau"))
    result = page.locator("article.result").filter(has_text="Macau: A Cultural Janus").first
    accessible(page, "search-my-library")
    result.get_by_role("button", name=re.compile("^(Reserve|預約)$")).click()
    page.wait_for_url(re.compile(r"/portal/account"))
    assert "Macau: A Cultural Janus" in page.locator("main").inner_text()
    accessible(page, "reserved")
