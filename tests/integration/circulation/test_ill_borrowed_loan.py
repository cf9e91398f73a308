"""The home library while its patron has another library's item (ILL.md, "After the
checkout"), on the real PostgreSQL: a renewal asked of the lender, pending until it answers
(HKALL-13, MALA-05), its answer applied to the patron's loan and e-mailed either way; the
lender's recall shortening the loan with the recalled fine rate (HKALL-11, HKALL-16); fines
on the lender's terms; and the home library unable to recall the lender's item (HKALL-10)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from libs.common.contracts.ill import IllRefusal, LoanTerms

from .conftest import hkt
from .test_ill_borrowing import (  # noqa: F401 - the fixtures the home library needs
    Home,
    assert_refused,
    catalogue,
    catalogue_url,
    circulation_urls,
    clock,
    open_home,
    requested,
)

pytestmark = pytest.mark.pg
DUE = date(2026, 12, 31)


@pytest.fixture
async def home(circulation_urls, clock, catalogue):  # noqa: F811 - the imported fixtures
    """EdUHK, the home library of the patrons here."""
    async with open_home("eduhk", circulation_urls["eduhk"], clock, catalogue) as desk:
        yield desk


def terms(due: date) -> LoanTerms:
    """HKALL-16 as a lender states it: $2 a day to $30, a recalled book $4 a day to $60."""
    return LoanTerms(
        due_date=due,
        loan_days=30,
        max_total_loan_days=90,
        renewal_needs_approval=True,
        currency="HKD",
        fine_per_day_minor=200,
        fine_cap_minor=3000,
        recalled_fine_per_day_minor=400,
        recalled_fine_cap_minor=6000,
        cap_waived_when_recovered=True,
        recall_minimum_use_days=15,
        fine_rule="HKALL-16",
        recalled_fine_rule="HKALL-16",
        recovered_rule="HKALL-17",
        rules=["HKALL-08", "HKALL-16"],
    )


async def checked_out(home: Home) -> tuple[str, dict, dict, str]:
    """An ILL loan the patron took home on 1 December, due on the lender's 31 December."""
    txn, patron, token = await requested(home)
    barcode = home.unique("CU")
    await home.feed(home.routing(txn, lender="cityu"))
    await home.feed(home.supplier(txn, "WillSupply", "RequestResponse"))
    await home.feed(
        home.supplier(
            txn,
            "Loaned",
            item_id=f"cityu-{barcode}",
            barcode=barcode,
            due_date=DUE,
            loan_terms=terms(DUE),
        )
    )
    await home.post(f"/api/v1/ill/borrowing/{txn}/receive", {"service_point": "mmw"})
    res = await home.post(f"/api/v1/ill/borrowing/{txn}/checkout")
    assert res.status_code == 200, res.text
    loans = (await home.client.get("/api/v1/me/loans", headers=token)).json()["loans"]
    return txn, patron, token, loans[0]["loan_id"]


async def signed_in(home: Home, patron: dict) -> dict:
    """A new sign-in, once the clock has moved past the last one's expiry."""
    res = await home.sign_in(patron["card_number"], "s3cret-pass")
    assert res.status_code == 201, res.text
    await home.login_staff()
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


async def my_loan(home: Home, token: dict) -> dict:
    res = await home.client.get("/api/v1/me/loans", headers=token)
    assert res.status_code == 200, res.text
    loans = res.json()["loans"]
    assert len(loans) == 1, loans
    return loans[0]


async def test_a_renewal_is_pending_until_the_lender_approves_HKALL_13(home):
    txn, patron, token, loan_id = await checked_out(home)
    preview = await home.client.post(
        "/api/v1/me/renewals/preview", json={"loan_ids": [loan_id]}, headers=token
    )
    outcome = preview.json()["outcomes"][0]
    assert outcome["needs_lender_approval"] is True, (outcome["rules"], outcome["messages"])
    assert outcome["new_due_date"] is None
    res = await home.client.post("/api/v1/me/renewals", json={"loan_ids": [loan_id]}, headers=token)
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["transaction_ref"] is None and body["items"] == []
    assert [(p["loan_id"], p["lender"]) for p in body["pending"]] == [(loan_id, "cityu")]
    assert "pending the approval of the lending library" in body["pending"][0]["message"]
    assert (await home.to_broker(txn))[-1]["payload"]["action"] == "Renew"
    loan = await my_loan(home, token)
    assert loan["due_date"] == "2026-12-31" and loan["ill"]["renewal"]["state"] == "pending"

    # Asked again while waiting: refused, nothing sent twice.
    again = await home.client.post(
        "/api/v1/me/renewals", json={"loan_ids": [loan_id]}, headers=token
    )
    assert_refused(again, "HKALL-13")
    assert [e["payload"].get("action") for e in await home.to_broker(txn)].count("Renew") == 1

    # No answer in the configured 48 hours: shown late, still not renewed.
    home.clock.advance(timedelta(hours=49))
    token = await signed_in(home, patron)
    loan = await my_loan(home, token)
    assert loan["ill"]["renewal"]["answer_late"] is True and loan["due_date"] == "2026-12-31"

    await home.feed(
        home.supplier(txn, "Loaned", "RenewResponse", answer="yes", due_date=date(2027, 1, 30))
    )
    loan = await my_loan(home, token)
    assert (loan["due_date"], loan["renewals"]) == ("2027-01-30", 1)
    assert loan["ill"]["renewal"]["state"] == "approved"
    approved = [
        n for n in await home.notices(patron["patron_id"]) if n["kind"] == "renewal_approved"
    ]
    assert approved and approved[-1]["due_date"] == "2027-01-30"
    assert approved[-1]["transaction_ref"].startswith("EDUHK-")


async def test_a_denied_renewal_keeps_the_due_date_and_names_the_lenders_rule_HKALL_12(home):
    txn, patron, token, loan_id = await checked_out(home)
    await home.client.post("/api/v1/me/renewals", json={"loan_ids": [loan_id]}, headers=token)
    refusal = IllRefusal(rule="HKALL-12", reason="another reader has placed a hold on the item")
    await home.feed(
        home.supplier(txn, "Loaned", "RenewResponse", answer="no", due_date=DUE, refusal=refusal)
    )
    loan = await my_loan(home, token)
    assert loan["due_date"] == "2026-12-31" and loan["renewals"] == 0
    assert (loan["ill"]["renewal"]["state"], loan["ill"]["renewal"]["rule"]) == (
        "denied",
        "HKALL-12",
    )
    denied = [n for n in await home.notices(patron["patron_id"]) if n["kind"] == "renewal_denied"]
    assert denied and denied[-1]["rule"] == "HKALL-12"
    # Denied, the patron may ask again (the lender may say yes once the hold is gone).
    res = await home.client.post("/api/v1/me/renewals", json={"loan_ids": [loan_id]}, headers=token)
    assert res.status_code == 201 and res.json()["pending"], res.text


async def test_a_recall_shortens_the_loan_and_fines_at_the_recalled_rate_HKALL_11_16(home):
    txn, patron, token, _ = await checked_out(home)
    recalled_due = date(2026, 12, 16)  # day 15 of the loan: the minimum use period
    home.clock.set(hkt(2026, 12, 4, 10))
    token = await signed_in(home, patron)
    await home.feed(home.supplier(txn, "Recalled", due_date=recalled_due))
    loan = await my_loan(home, token)
    assert (loan["due_date"], loan["recalled_on"]) == ("2026-12-16", "2026-12-04")
    recall = [n for n in await home.notices(patron["patron_id"]) if n["kind"] == "recall"]
    assert recall and recall[-1]["due_date"] == "2026-12-16"  # e-mailed at once
    # HKALL-16: recalled and 10 days overdue: $4 a day, $40
    home.clock.set(hkt(2026, 12, 26, 10))
    token = await signed_in(home, patron)
    loan = await my_loan(home, token)
    assert (loan["days_overdue"], loan["fine_so_far_minor"], loan["fine_currency"]) == (
        10,
        4000,
        "HKD",
    )


async def test_fines_follow_the_lenders_terms_not_the_home_policy_HKALL_16(home):
    _, patron, _, _ = await checked_out(home)
    home.clock.set(hkt(2027, 1, 10, 10))  # 10 days overdue
    loan = await my_loan(home, await signed_in(home, patron))
    assert (loan["days_overdue"], loan["fine_so_far_minor"]) == (10, 2000)  # $2 a day
    home.clock.set(hkt(2027, 1, 30, 10))  # 30 days: the $30 cap
    assert (await my_loan(home, await signed_in(home, patron)))["fine_so_far_minor"] == 3000


async def test_the_home_library_cannot_recall_the_lenders_item_HKALL_10(home):
    txn, _, _, _ = await checked_out(home)
    res = await home.post(f"/api/v1/ill/borrowing/{txn}/recall")
    doc = assert_refused(res, "HKALL-10")
    assert "only the library that owns this item can recall it" in doc["detail"]
    # A reservation by a local patron of the visiting item would be a recall too.
    other, _ = await home.patron()
    item_id = (await home.row(txn))["item_id"]
    hold = await home.post(
        "/api/v1/holds",
        {"patron_id": other["patron_id"], "title_id": item_id, "pickup_location": "mmw"},
    )
    assert_refused(hold, "HKALL-10")
