"""The lending library while another library's patron has its item (ILL.md, "After the
checkout"): it decides the renewals asked of it by its own policy and its own users' holds
(HKALL-12, HKALL-13, MALA-05), and recalls its item, by its staff or for a hold of one of its
own users (HKALL-11, MALA-06). Driven as the broker and the library's staff drive it."""

from __future__ import annotations

from datetime import date

import pytest

from tests.integration.circulation.conftest import hkt
from tests.integration.circulation.test_ill_lending_desk import Lender, open_lender

SHIPPED = date(2026, 1, 25)  # the clock fixture's day


@pytest.fixture
async def hku(database_url, clock):
    async with open_lender(database_url, clock, "hku") as desk:
        yield desk


@pytest.fixture
async def kwnc(database_url, clock):
    async with open_lender(database_url, clock, "kwnc") as desk:
        yield desk


async def lent(desk: Lender, *, category: str = "student", consortium: str = "HKALL", **kw):
    """A copy lent and taken home by the requester's patron on the shipping day."""
    book = await desk.add_item(service_point="main", title="香港歷史")
    request = desk.request(book, category=category, consortium=consortium, **kw)
    await desk.deliver(request)
    base = f"/api/v1/ill/lending/{request.transaction_id}"
    if (await desk.lending(request.transaction_id))["state"] == "RequestReceived":
        await desk.post(f"{base}/will-supply", {})
    res = await desk.post(f"{base}/ship", {"barcode": book["barcode"]})
    assert res.status_code == 200, res.text
    await desk.deliver(desk.says(request, 2, "CheckedOut", at=hkt(2026, 1, 25, 18)))
    return book, request, base


def renew_answer(answers: list[dict]) -> dict:
    last = answers[-1]["payload"]
    assert last["reason"] == "RenewResponse", last
    return last


async def test_a_renewal_is_approved_with_the_new_due_date_HKALL_12_HKALL_13(hku: Lender):
    _, request, _ = await lent(hku)
    await hku.deliver(hku.says(request, 3, "Renew", at=hkt(2026, 2, 5, 10)))
    answer = renew_answer(await hku.answers(request.transaction_id))
    # HKALL-12: a 15-day loan, renewed on 5 February: due 15 days later
    assert (answer["answer"], answer["due_date"], answer["status"]) == (
        "yes",
        "2026-02-20",
        "Loaned",
    )
    lending = await hku.lending(request.transaction_id)
    assert (lending["due_date"], lending["renewals"], lending["state"]) == (
        "2026-02-20",
        1,
        "Loaned",
    )
    assert lending["loan_terms"]["due_date"] == "2026-02-20"


async def test_renewals_stop_at_45_days_in_all_for_a_student_HKALL_12(hku: Lender):
    _, request, _ = await lent(hku)
    dues = []
    for seq, day in ((3, date(2026, 2, 8)), (4, date(2026, 2, 22)), (5, date(2026, 3, 8))):
        await hku.deliver(hku.says(request, seq, "Renew", at=hkt(day.year, day.month, day.day)))
        dues.append(renew_answer(await hku.answers(request.transaction_id))["due_date"])
    # 45 days in all from the checkout of 25 January: 11 March at the most
    assert dues == ["2026-02-23", "2026-03-09", "2026-03-11"]
    await hku.deliver(hku.says(request, 6, "Renew", at=hkt(2026, 3, 10)))
    answer = renew_answer(await hku.answers(request.transaction_id))
    assert answer["answer"] == "no" and answer["refusal"]["rule"] == "HKALL-12"
    assert "45 days in all" in answer["refusal"]["reason"]
    assert (await hku.lending(request.transaction_id))["due_date"] == "2026-03-11"


async def test_a_local_hold_recalls_the_copy_and_refuses_its_renewal_HKALL_11_HKALL_12(
    hku: Lender,
):
    book, request, _ = await lent(hku, category="academic_staff")
    reader = await hku.register(category="academic_staff")
    res = await hku.post(
        "/api/v1/holds",
        {
            "patron_id": reader["patron"]["patron_id"],
            "title_id": book["title_id"],
            "pickup_location": "main",
        },
    )
    assert res.status_code == 201, res.text
    # HKALL-11: recalled for the library's own user on the day it was taken home: the
    # 30-day loan is due on day 15, the end of the minimum use period
    recalled = (await hku.answers(request.transaction_id))[-1]["payload"]
    assert (recalled["status"], recalled["due_date"]) == ("Recalled", "2026-02-09")
    lending = await hku.lending(request.transaction_id)
    assert lending["state"] == "Recalled" and lending["recalled_by"].startswith("hold:")
    await hku.deliver(hku.says(request, 3, "Renew", at=hkt(2026, 2, 1)))
    answer = renew_answer(await hku.answers(request.transaction_id))
    assert answer["answer"] == "no" and answer["refusal"]["rule"] == "HKALL-12"
    assert "hold" in answer["refusal"]["reason"]


@pytest.mark.parametrize(
    ("recall_day", "due"),
    [
        # HKALL-11: recalled on day 3 of a 30-day loan: due on day 15, the minimum use period
        (date(2026, 1, 28), "2026-02-09"),
        # recalled on day 20: the recall day plus the policy's 7 days, never after day 30
        (date(2026, 2, 14), "2026-02-21"),
    ],
)
async def test_staff_recall_keeps_the_minimum_use_period_HKALL_11(hku: Lender, recall_day, due):
    _, request, base = await lent(hku, category="academic_staff")
    assert (await hku.lending(request.transaction_id))["due_date"] == "2026-02-24"  # 30 days
    hku.clock.set(hkt(recall_day.year, recall_day.month, recall_day.day, 10))
    await hku.login_staff()
    res = await hku.post(f"{base}/recall")
    assert res.status_code == 200, res.text
    assert (res.json()["state"], res.json()["due_date"]) == ("Recalled", due)
    answers = await hku.answers(request.transaction_id)
    assert [(a["payload"]["status"], a["payload"]["due_date"]) for a in answers][-1] == (
        "Recalled",
        due,
    )
    assert (await hku.post(f"{base}/recall")).status_code == 200  # a repeat changes nothing
    assert len(await hku.answers(request.transaction_id)) == len(answers)


async def test_mala_renews_once_and_only_before_the_due_date_MALA_05(kwnc: Lender):
    _, request, _ = await lent(kwnc, consortium="MALA", requester="um")
    await kwnc.deliver(kwnc.says(request, 3, "Renew", at=hkt(2026, 2, 5)))
    first = renew_answer(await kwnc.answers(request.transaction_id))
    assert (first["answer"], first["due_date"]) == ("yes", "2026-02-19")
    await kwnc.deliver(kwnc.says(request, 4, "Renew", at=hkt(2026, 2, 10)))
    second = renew_answer(await kwnc.answers(request.transaction_id))
    assert second["answer"] == "no" and second["refusal"]["rule"] == "MALA-05"
    assert "renewed once" in second["refusal"]["reason"]


async def test_mala_refuses_a_renewal_asked_after_the_due_date_MALA_05(kwnc: Lender):
    _, request, _ = await lent(kwnc, consortium="MALA", requester="um")
    await kwnc.deliver(kwnc.says(request, 3, "Renew", at=hkt(2026, 2, 10)))
    answer = renew_answer(await kwnc.answers(request.transaction_id))
    assert answer["answer"] == "no" and answer["refusal"]["rule"] == "MALA-05"
    assert "before the due date" in answer["refusal"]["reason"]


async def test_a_renewed_loan_can_still_be_recalled_HKALL_14(hku: Lender):
    _, request, base = await lent(hku, category="academic_staff")
    await hku.deliver(hku.says(request, 3, "Renew", at=hkt(2026, 2, 20, 10)))
    assert renew_answer(await hku.answers(request.transaction_id))["answer"] == "yes"
    hku.clock.set(hkt(2026, 2, 21, 10))
    await hku.login_staff()
    res = await hku.post(f"{base}/recall")
    assert res.status_code == 200, res.text
    # the same loan, renewed: recalled to the recall day plus 7 days
    assert (res.json()["state"], res.json()["due_date"]) == ("Recalled", "2026-02-28")
