"""An ILL loan's renewal is asked of the lending library (HKALL-13): the patron sees it
"waiting for the lending library" until the lender answers, then approved with the new due
date. The broker is made to hold the Renew (its consumer dead-letters it) so that the wait
can be seen; an operator's replay lets it through."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import httpx

from libs.common.messaging.consumer import RejectMessage
from tests.browser.conftest import accessible, shot
from tests.browser.helpers import patron_requests, sign_in_desk, sign_in_patron, token

TITLE = "澳門文學史"


def _until(check, what: str, tries: int = 100):
    for _ in range(tries):
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never {what}")


def _on_loan_to_the_patron(federation, card: str, title: str = TITLE) -> str:
    txn = patron_requests(federation, "eduhk", card, title, "mmw")
    operator = {"Authorization": f"Bearer {token(federation, 'requests', 'operator')}"}

    def broker(state):
        res = httpx.get(federation.url("requests", f"/api/v1/transactions/{txn}"), headers=operator)
        return res.json() if res.status_code == 200 and res.json()["state"] == state else None

    lender = _until(lambda: broker("WillSupply"), "WillSupply")["current_lender"]
    at_lender = {"Authorization": f"Bearer {token(federation, lender, lender)}"}
    lending = httpx.get(federation.url(lender, f"/api/v1/ill/lending/{txn}"), headers=at_lender)
    shipped = httpx.post(
        federation.url(lender, f"/api/v1/ill/lending/{txn}/ship"),
        json={"barcode": lending.json()["barcode"]},
        headers=at_lender,
    )
    assert shipped.status_code == 200, shipped.text
    home = {"Authorization": f"Bearer {token(federation, 'eduhk', 'eduhk')}"}
    base = f"/api/v1/ill/borrowing/{txn}"

    def home_state(state):
        res = httpx.get(federation.url("eduhk", base), headers=home)
        return res.status_code == 200 and res.json()["state"] == state

    _until(lambda: home_state("Shipped"), "Shipped at home")
    received = httpx.post(
        federation.url("eduhk", f"{base}/receive"), json={"service_point": "mmw"}, headers=home
    )
    assert received.status_code == 200, received.text
    lent = httpx.post(federation.url("eduhk", f"{base}/checkout"), headers=home)
    assert lent.status_code == 200, lent.text
    # The broker has heard of the checkout before it is made to hold anything.
    _until(lambda: broker("CheckedOut"), "CheckedOut at the broker")
    return txn


def test_an_ill_renewal_shows_pending_then_approved(page, federation):
    """HKALL-13"""
    txn = _on_loan_to_the_patron(federation, "EDUHK000003")
    consumer = federation.embedded.runtimes["requests"].consumers[0]
    key = ("ill.requester_message", 1)
    real = consumer.handlers[key]

    async def hold(conn, ctx, env, payload):
        raise RejectMessage("held for the test: the broker is being maintained")

    consumer.handlers[key] = hold
    # Ten days into the loan a renewal extends it (HKALL-12).
    federation.clock.advance(timedelta(days=10))
    try:
        sign_in_patron(page, federation, "eduhk", "EDUHK000003", "demo-reader")
        loan = page.locator("tr.loan").filter(has_text=TITLE)
        due_before = loan.locator(".due").inner_text()
        loan.get_by_role("checkbox").check()
        page.get_by_role("button", name=re.compile("Renew selected|續借所選項目")).click()
        assert re.search(
            "waiting for the lending library|等候借出圖書館回覆",
            page.locator(".pending-renewals").inner_text(),
        )
        accessible(page, "renewal-asked")
        page.goto(federation.url("eduhk", "/portal/account"))
        loan = page.locator("tr.loan").filter(has_text=TITLE)
        assert loan.locator(".renewal-pending").count() == 1
        accessible(page, "renewal-pending")
        # a token from before the clock moved has expired
        operator = {"Authorization": f"Bearer {token(federation, 'requests', 'operator')}"}
        parked = _until(
            lambda: [
                d
                for d in httpx.get(
                    federation.url("requests", "/api/v1/dead-letters"), headers=operator
                ).json()["items"]
                if "held for the test" in d["reason"]
            ],
            "the Renew parked at the broker",
        )
    finally:
        consumer.handlers[key] = real
    for letter in sorted(parked, key=lambda d: d["id"]):
        replayed = httpx.post(
            federation.url("requests", f"/api/v1/dead-letters/{letter['id']}/replay"),
            headers={**operator, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert replayed.status_code == 200, replayed.text

    for _ in range(50):
        page.reload()
        loan = page.locator("tr.loan").filter(has_text=TITLE)
        if loan.locator(".renewal-approved").count():
            break
        page.wait_for_timeout(200)
    assert loan.locator(".renewal-approved").count() == 1, loan.inner_text()
    assert loan.locator(".due").inner_text() != due_before
    shot(page, "renewal-approved")
    assert txn


def test_a_lender_recalls_its_item_from_its_desk(page, federation):
    """HKALL-11: the lender's staff recall the copy; the borrower's account says so."""
    txn = _on_loan_to_the_patron(federation, "EDUHK000001", "紅樓夢")
    lender = httpx.get(
        federation.url("eduhk", f"/api/v1/ill/borrowing/{txn}"),
        headers={"Authorization": f"Bearer {token(federation, 'eduhk', 'eduhk')}"},
    ).json()["lender"]
    sign_in_desk(page, federation, lender)
    page.wait_for_url(re.compile(r"/desk/$"))
    page.goto(federation.url(lender, "/desk/lending?state=Loaned"))
    row = page.locator(f"tr.lending[data-txn='{txn}']")
    accessible(page, "recallable")
    row.get_by_role("button", name=re.compile("^(Recall|催還)$")).click()
    assert re.search(
        "Recalled|已催還", page.locator(f"tr.lending[data-txn='{txn}'] .state").inner_text()
    )
    shot(page, "recalled")

    sign_in_patron(page, federation, "eduhk", "EDUHK000001", "demo-reader")
    loan = page.locator("tr.loan").filter(has_text="紅樓夢")
    for _ in range(50):
        if loan.locator(".recalled").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    assert loan.locator(".recalled").count() == 1, loan.inner_text()
    accessible(page, "recalled-account")
