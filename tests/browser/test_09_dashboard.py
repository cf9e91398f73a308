"""The operators' dashboard: a transaction whose lender's shipment was dead-lettered at the
broker shows stuck, waiting for the lender; the operator replays the dead letter and sees the
transaction move on without reloading the page.

Last in the package: it moves the federation's clock by days."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import httpx

from libs.common.messaging.consumer import RejectMessage
from tests.browser.conftest import accessible, shot
from tests.browser.helpers import patron_requests, token

TITLE = "紅樓夢"  # held by HKBU and CUHK, not by EdUHK


def _broker_state(federation, txn: str, operator: str) -> dict:
    res = httpx.get(
        federation.url("requests", f"/api/v1/transactions/{txn}"),
        headers={"Authorization": f"Bearer {operator}"},
    )
    res.raise_for_status()
    return res.json()


def _wait(federation, txn: str, operator: str, state: str) -> dict:
    row: dict = {}
    for _ in range(100):
        try:
            row = _broker_state(federation, txn, operator)
        except httpx.HTTPStatusError:
            row = {}  # the request is still on its way to the broker
        if row.get("state") == state:
            return row
        time.sleep(0.1)
    raise AssertionError(f"{txn} is {row.get('state')}, not {state}")


def test_operator_sees_stuck_and_replays_a_dead_letter(page, federation):
    operator = token(federation, "requests", "operator")
    txn = patron_requests(federation, "eduhk", "EDUHK000002", TITLE, "mmw")
    lender = _wait(federation, txn, operator, "WillSupply")["current_lender"]

    # The broker's consumer turns the lender's messages away for a while: the shipment's
    # Loaned is dead-lettered.
    consumer = federation.embedded.runtimes["requests"].consumers[0]
    key = ("ill.supplier_message", 1)
    real = consumer.handlers[key]

    async def refuse(conn, ctx, env, payload):
        raise RejectMessage("the broker's store was being repaired")

    consumer.handlers[key] = refuse
    try:
        lender_token = token(federation, lender, lender)
        headers = {"Authorization": f"Bearer {lender_token}"}
        lending = httpx.get(
            federation.url(lender, f"/api/v1/ill/lending/{txn}"), headers=headers
        ).json()
        shipped = httpx.post(
            federation.url(lender, f"/api/v1/ill/lending/{txn}/ship"),
            json={"barcode": lending["barcode"]},
            headers=headers,
        )
        assert shipped.status_code == 200, shipped.text
        for _ in range(100):
            parked = httpx.get(
                federation.url("requests", "/api/v1/dead-letters"),
                headers={"Authorization": f"Bearer {operator}"},
            ).json()["items"]
            if parked:
                break
            time.sleep(0.1)
        assert parked, "the lender's Loaned was not dead-lettered"
    finally:
        consumer.handlers[key] = real
    assert _broker_state(federation, txn, operator)["state"] == "WillSupply"

    # A week later the broker still waits for the lender to ship: stuck.
    federation.clock.advance(timedelta(days=8))

    page.goto(federation.url("requests", "/dashboard/"))
    accessible(page, "operator-sign-in")
    page.get_by_label("Operator client id").fill("operator")
    page.get_by_label("Client secret").fill(federation.secret("operator"))
    page.get_by_role("button", name=re.compile("Sign in|登入")).click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    row = page.locator(f"#stuck-title ~ table tr.txn.stuck[data-txn='{txn}']")
    row.wait_for()
    assert lender in row.locator(".party").inner_text()
    assert "the lender to ship the item" in row.inner_text()
    assert page.locator("table.libraries tr").count() == 1 + len(federation.fed.libraries)
    accessible(page, "stuck")

    page.goto(federation.url("requests", "/dashboard/transactions"))
    page.get_by_label("Search").fill(TITLE)
    page.get_by_label("State").select_option("WillSupply")
    page.get_by_label("stuck only").check()
    page.get_by_role("button", name="Filter").click()
    assert page.locator("tr.txn").count() == 1
    assert page.locator(f"tr.txn.stuck[data-txn='{txn}']").count() == 1
    accessible(page, "transactions-stuck")
    page.get_by_label("State").select_option("Loaned")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("tr.txn[data-txn]").count() == 0
    page.goto(federation.url("requests", f"/dashboard/transactions/{txn}"))
    assert page.locator("#txn-state").inner_text() == "WillSupply"
    accessible(page, "transaction")
    page.goto(federation.url("requests", "/dashboard/dead-letters"))
    assert "the broker's store was being repaired" in page.inner_text("main")
    accessible(page, "dead-letters")

    # The operator replays it from the overview; the page is not reloaded, its live part
    # shows the transaction moving on to Loaned.
    page.goto(federation.url("requests", "/dashboard/"))
    page.evaluate("() => { window.notReloaded = true; }")
    page.locator("tr.dead-letter").first.get_by_role("button", name=re.compile("Replay")).click()
    page.locator(f"#recent-title ~ table tr.txn[data-txn='{txn}'][data-state='Loaned']").wait_for(
        timeout=20_000
    )
    assert page.evaluate("() => window.notReloaded") is True
    assert page.locator(f"#stuck-title ~ table tr.txn[data-txn='{txn}']").count() == 0
    shot(page, "moved-on")
    fresh = token(federation, "requests", "operator")  # the clock moved past the first
    assert _broker_state(federation, txn, fresh)["state"] == "Loaned"
