"""A member library lending through inter-library loan (ILL.md, "Supplier"), driven as the
broker and the library's staff drive it: the broker's messages arrive in the library's queue,
staff use the REST API, and what the library answers is read from its outbox."""

from __future__ import annotations

from datetime import date

import pytest

from tests.integration.circulation.conftest import hkt
from tests.integration.circulation.test_ill_lending_desk import Lender, open_lender

TODAY = date(2026, 1, 25)  # the clock fixture's day, in Hong Kong and Macau alike


@pytest.fixture
async def hku(database_url, clock):
    async with open_lender(database_url, clock, "hku") as desk:
        yield desk


@pytest.fixture
async def hku_by_hand(database_url, clock):
    """HKU with a policy that leaves every request to its staff."""
    async with open_lender(database_url, clock, "hku", auto_accept=False) as desk:
        yield desk


@pytest.fixture
async def kwnc(database_url, clock):
    async with open_lender(database_url, clock, "kwnc", auto_accept=False) as desk:
        yield desk


@pytest.fixture
async def kwnc_auto(database_url, clock):
    async with open_lender(database_url, clock, "kwnc") as desk:
        yield desk


async def _book(desk: Lender, **fields) -> dict:
    return await desk.add_item(service_point="main", title="香港歷史", **fields)


# Answered by the library's policy ---------------------------------------------------------


async def test_an_available_copy_is_held_and_will_supply_answered(hku: Lender):
    book = await _book(hku)
    request = hku.request(book)
    message_id = await hku.deliver(request)

    lending = await hku.lending(request.transaction_id)
    assert lending["state"] == "WillSupply"
    assert (lending["item_id"], lending["barcode"]) == (book["id"], book["barcode"])
    assert (await hku.item(book["id"]))["status"] == "IN_PROCESSING"
    [answer] = await hku.answers(request.transaction_id)
    assert answer["causation_id"] == message_id
    assert answer["payload"]["seq"] == 1
    assert answer["payload"]["supplier"] == "hku"
    assert (answer["payload"]["status"], answer["payload"]["reason"]) == (
        "WillSupply",
        "RequestResponse",
    )
    assert answer["payload"]["barcode"] == book["barcode"]
    assert [(h["from_state"], h["to_state"], h["actor"]) for h in lending["history"]] == [
        (None, "RequestReceived", "requests"),
        ("RequestReceived", "WillSupply", "auto"),
    ]
    # The catalogue hears that the copy is off the shelf.
    changes = [
        e["payload"]
        for e in await hku.messages("item.changed")
        if e["payload"]["item_id"] == book["id"]
    ]
    assert changes[-1]["status"] == "IN_PROCESSING"


async def test_staff_wait_for_a_lending_that_has_not_arrived_yet(hku: Lender):
    """``GET …/lending/{id}?until=WillSupply&wait=…`` for a request the broker has not
    delivered yet waits for it (instead of a 404 to poll again), and is answered as the
    library's policy holds the copy; still unknown when the wait is over, it is a 404."""
    import asyncio

    hku.runtime.changes.recheck = 60.0  # only the commit can wake it
    book = await _book(hku)
    request = hku.request(book)
    path = f"/api/v1/ill/lending/{request.transaction_id}"
    waiting = asyncio.create_task(
        hku.client.get(path, params={"until": "WillSupply", "wait": 15}, headers=hku.staff)
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await hku.deliver(request)
    res = await asyncio.wait_for(waiting, 10)
    assert res.status_code == 200, res.text
    assert res.json()["state"] == "WillSupply"

    res = await hku.client.get(
        "/api/v1/ill/lending/ILL-NEVER-SENT",
        params={"until": "WillSupply", "wait": 0.3},
        headers=hku.staff,
    )
    assert res.status_code == 404, res.text


async def test_a_copy_on_loan_here_is_unfilled_naming_hkall_02(hku: Lender):
    """HKALL-02: the lender's own status is the truth, not the catalogue's mirror."""
    book = await _book(hku)
    reader = await hku.register(category="student")
    assert (await hku.checkout(reader["card_number"], book)).status_code == 201
    request = hku.request(book)
    await hku.deliver(request)

    lending = await hku.lending(request.transaction_id)
    assert lending["state"] == "Unfilled" and lending["refusal_rule"] == "HKALL-02"
    [answer] = await hku.answers(request.transaction_id)
    assert answer["payload"]["status"] == "Unfilled"
    assert answer["payload"]["refusal"]["rule"] == "HKALL-02"
    assert "ON_LOAN, not AVAILABLE" in answer["payload"]["refusal"]["reason"]
    assert (await hku.item(book["id"]))["status"] == "ON_LOAN"


async def test_reference_books_are_not_lent_mala_03(kwnc_auto: Lender):
    desk = kwnc_auto
    dictionary = await _book(desk, material_type="reference")
    request = desk.request(dictionary, consortium="MALA")
    await desk.deliver(request)

    [answer] = await desk.answers(request.transaction_id)
    assert answer["payload"]["status"] == "Unfilled"
    assert answer["payload"]["refusal"]["rule"] == "MALA-03"
    assert (await desk.lending(request.transaction_id))["state"] == "Unfilled"
    assert (await desk.item(dictionary["id"]))["status"] == "AVAILABLE"


async def test_a_copy_found_by_isbn_when_the_catalogue_named_another(hku: Lender):
    isbn = hku.unique("978")[:13]
    lent = await _book(hku, isbn=isbn)
    other = await _book(hku, isbn=isbn)
    reader = await hku.register(category="student")
    await hku.checkout(reader["card_number"], lent)
    request = hku.request(lent, isbn=isbn)
    await hku.deliver(request)
    lending = await hku.lending(request.transaction_id)
    assert (lending["state"], lending["item_id"]) == ("WillSupply", other["id"])


# Answered by staff ------------------------------------------------------------------------


async def test_a_request_waits_for_staff_who_accept_with_a_copy_they_choose(hku_by_hand: Lender):
    desk = hku_by_hand
    first, chosen = await _book(desk), await _book(desk)
    request = desk.request(first, chosen)
    await desk.deliver(request)
    assert (await desk.lending(request.transaction_id))["state"] == "RequestReceived"
    assert await desk.answers(request.transaction_id) == []
    listed = (await desk.get("/api/v1/ill/lending?state=RequestReceived")).json()["lendings"]
    assert request.transaction_id in [x["transaction_id"] for x in listed]

    path = f"/api/v1/ill/lending/{request.transaction_id}/will-supply"
    res = await desk.post(path, {"barcode": chosen["barcode"]})
    assert res.status_code == 200, res.text
    assert (res.json()["state"], res.json()["item_id"]) == ("WillSupply", chosen["id"])
    again = await desk.post(path, {"barcode": chosen["barcode"]})
    assert again.status_code == 200 and again.json()["state"] == "WillSupply"

    answers = await desk.answers(request.transaction_id)
    assert [a["payload"]["status"] for a in answers] == ["WillSupply"]  # once, not twice
    assert answers[0]["causation_id"] is None  # a staff action, not a message
    assert (await desk.item(chosen["id"]))["status"] == "IN_PROCESSING"
    assert (await desk.item(first["id"]))["status"] == "AVAILABLE"
    assert res.json()["history"][-1]["actor"] == "staff:hku"


async def test_staff_cannot_supply_a_copy_that_is_not_available_hkall_02(hku_by_hand: Lender):
    desk = hku_by_hand
    book = await _book(desk)
    reader = await desk.register(category="student")
    await desk.checkout(reader["card_number"], book)
    request = desk.request(book)
    await desk.deliver(request)
    res = await desk.post(
        f"/api/v1/ill/lending/{request.transaction_id}/will-supply", {"barcode": book["barcode"]}
    )
    assert res.status_code == 409
    assert res.headers["content-type"].startswith("application/problem+json")
    assert res.json()["rules"] == ["HKALL-02"]
    assert (await desk.lending(request.transaction_id))["state"] == "RequestReceived"


async def test_staff_decline_with_the_reason_and_rule(hku_by_hand: Lender):
    desk = hku_by_hand
    request = desk.request(await _book(desk))
    await desk.deliver(request)
    path = f"/api/v1/ill/lending/{request.transaction_id}/unfilled"
    body = {"reason": "the copy is kept for a course reserve this term", "rule": "HKALL-02"}
    res = await desk.post(path, body)
    assert res.status_code == 200 and res.json()["state"] == "Unfilled"
    assert (await desk.post(path, body)).status_code == 200
    [answer] = await desk.answers(request.transaction_id)
    assert answer["payload"]["refusal"] == body
    # Once answered, the request cannot be accepted after all.
    late = await desk.post(f"/api/v1/ill/lending/{request.transaction_id}/will-supply", {})
    assert late.status_code == 409 and "not possible in state Unfilled" in late.json()["detail"]


@pytest.mark.parametrize(
    ("category", "due", "loan_days"),
    [("academic_staff", date(2026, 2, 24), 30), ("student", date(2026, 2, 9), 15)],
)
async def test_shipping_lends_the_copy_on_the_terms_of_the_category_hkall_08(
    hku: Lender, category, due, loan_days
):
    book = await _book(hku)
    request = hku.request(book, category=category)
    await hku.deliver(request)
    path = f"/api/v1/ill/lending/{request.transaction_id}/ship"
    res = await hku.post(path, {"barcode": book["barcode"]})
    assert res.status_code == 200, res.text
    assert (res.json()["state"], res.json()["due_date"]) == ("Loaned", due.isoformat())
    assert (await hku.post(path, {"barcode": book["barcode"]})).status_code == 200

    assert (await hku.item(book["id"]))["status"] == "ON_ILL_LOAN"
    # Only its check-in brings it back, not a status set by hand.
    by_hand = await hku.post(f"/api/v1/items/{book['id']}/status", {"status": "AVAILABLE"})
    assert by_hand.status_code == 409
    answers = await hku.answers(request.transaction_id)
    assert [a["payload"]["status"] for a in answers] == ["WillSupply", "Loaned"]
    loaned = answers[1]["payload"]
    assert loaned["seq"] == 2
    assert (loaned["item_id"], loaned["barcode"]) == (book["id"], book["barcode"])
    terms = loaned["loan_terms"]
    assert loaned["due_date"] == terms["due_date"] == due.isoformat()
    assert terms["loan_days"] == loan_days and "HKALL-08" in terms["rules"]
    assert terms["currency"] == "HKD" and terms["fine_per_day_minor"] == 200  # HKALL-16


async def test_a_mala_lender_lends_for_fourteen_days_mala_04(kwnc: Lender):
    book = await _book(kwnc)
    request = kwnc.request(book, consortium="MALA", requester="um")
    await kwnc.deliver(request)
    base = f"/api/v1/ill/lending/{request.transaction_id}"
    assert (await kwnc.post(f"{base}/will-supply", {})).json()["state"] == "WillSupply"
    res = await kwnc.post(f"{base}/ship", {"barcode": book["barcode"]})
    assert res.json()["due_date"] == "2026-02-08"
    terms = (await kwnc.answers(request.transaction_id))[-1]["payload"]["loan_terms"]
    assert terms["loan_days"] == 14 and terms["rules"][0] == "MALA-04"
    assert terms["renewals_left"] == 1 and terms["currency"] == "MOP"  # MALA-05


# Back home ---------------------------------------------------------------------------------


async def test_a_returned_copy_is_checked_in_available_and_the_loan_completed(hku: Lender):
    book = await _book(hku)
    request = hku.request(book)
    await hku.deliver(request)
    base = f"/api/v1/ill/lending/{request.transaction_id}"
    await hku.post(f"{base}/ship", {"barcode": book["barcode"]})
    await hku.deliver(hku.says(request, 2, "Received", at=hkt(2026, 1, 27)))
    await hku.deliver(hku.says(request, 3, "CheckedOut", at=hkt(2026, 1, 28, 23)))
    await hku.deliver(hku.says(request, 4, "ShippedReturn"))
    lending = await hku.lending(request.transaction_id)
    assert lending["state"] == "ReturnShipped"
    # HKALL-11: the day the patron took it home is kept (in the lender's own calendar).
    assert (lending["received_on"], lending["checked_out_on"]) == ("2026-01-27", "2026-01-28")

    res = await hku.post(f"{base}/check-in")
    assert res.status_code == 200 and res.json()["state"] == "LoanCompleted"
    assert (await hku.post(f"{base}/check-in")).status_code == 200
    assert (await hku.item(book["id"]))["status"] == "AVAILABLE"
    changes = [
        e["payload"]["status"]
        for e in await hku.messages("item.changed")
        if e["payload"]["item_id"] == book["id"]
    ]
    assert changes[-3:] == ["IN_PROCESSING", "ON_ILL_LOAN", "AVAILABLE"]
    answers = [a["payload"] for a in await hku.answers(request.transaction_id)]
    assert [a["status"] for a in answers] == ["WillSupply", "Loaned", "LoanCompleted"]
    assert answers[-1]["seq"] == 3
    events = [(h["event"], h["to_state"]) for h in res.json()["history"]]
    assert events[-5:] == [
        ("ship", "Loaned"),
        ("Received", "Loaned"),
        ("CheckedOut", "Loaned"),
        ("ShippedReturn", "ReturnShipped"),
        ("check_in", "LoanCompleted"),
    ]


async def test_a_copy_that_arrives_without_notice_is_checked_in(hku: Lender):
    book = await _book(hku)
    request = hku.request(book)
    await hku.deliver(request)
    base = f"/api/v1/ill/lending/{request.transaction_id}"
    await hku.post(f"{base}/ship", {"barcode": book["barcode"]})
    res = await hku.post(f"{base}/check-in")
    assert res.json()["state"] == "LoanCompleted"
    assert (await hku.item(book["id"]))["status"] == "AVAILABLE"


# Cancel ------------------------------------------------------------------------------------


async def test_a_cancel_before_shipping_releases_the_copy_and_is_answered_yes(hku: Lender):
    book = await _book(hku)
    request = hku.request(book)
    await hku.deliver(request)
    assert (await hku.item(book["id"]))["status"] == "IN_PROCESSING"
    await hku.deliver(hku.says(request, 2, "Cancel"))

    assert (await hku.lending(request.transaction_id))["state"] == "Cancelled"
    assert (await hku.item(book["id"]))["status"] == "AVAILABLE"
    cancel = (await hku.answers(request.transaction_id))[-1]["payload"]
    assert (cancel["status"], cancel["reason"], cancel["answer"]) == (
        "Cancelled",
        "CancelResponse",
        "yes",
    )
    late = await hku.post(
        f"/api/v1/ill/lending/{request.transaction_id}/ship", {"barcode": book["barcode"]}
    )
    assert late.status_code == 409
    assert (await hku.item(book["id"]))["status"] == "AVAILABLE"


async def test_a_cancel_after_shipping_is_answered_no_and_changes_nothing(hku: Lender):
    book = await _book(hku)
    request = hku.request(book)
    await hku.deliver(request)
    await hku.post(
        f"/api/v1/ill/lending/{request.transaction_id}/ship", {"barcode": book["barcode"]}
    )
    await hku.deliver(hku.says(request, 2, "Cancel"))

    assert (await hku.lending(request.transaction_id))["state"] == "Loaned"
    assert (await hku.item(book["id"]))["status"] == "ON_ILL_LOAN"
    cancel = (await hku.answers(request.transaction_id))[-1]["payload"]
    assert (cancel["status"], cancel["reason"], cancel["answer"]) == (
        "Loaned",
        "CancelResponse",
        "no",
    )


# Order, repeats and refusals ---------------------------------------------------------------


async def test_a_repeated_message_and_a_reordered_pair_leave_the_same_state(hku: Lender):
    book = await _book(hku)
    request = hku.request(book)
    first = await hku.deliver(request)
    await hku.deliver(request, message_id=first)  # redelivered: the inbox knows it
    await hku.deliver(request)  # resent under a new id: its seq is known
    await hku.post(
        f"/api/v1/ill/lending/{request.transaction_id}/ship", {"barcode": book["barcode"]}
    )
    # CheckedOut (3) comes before Received (2): it waits, then both apply in order.
    await hku.deliver(hku.says(request, 3, "CheckedOut", at=hkt(2026, 1, 28)))
    parked = await hku.lending(request.transaction_id)
    assert parked["checked_out_on"] is None
    await hku.deliver(hku.says(request, 2, "Received", at=hkt(2026, 1, 27)))
    await hku.deliver(hku.says(request, 2, "Received", at=hkt(2026, 1, 27)))

    lending = await hku.lending(request.transaction_id)
    assert lending["state"] == "Loaned"
    assert (lending["received_on"], lending["checked_out_on"]) == ("2026-01-27", "2026-01-28")
    assert [h["event"] for h in lending["history"]] == [
        "Request",
        "will_supply",
        "ship",
        "Received",
        "CheckedOut",
    ]
    answers = await hku.answers(request.transaction_id)
    assert [a["payload"]["status"] for a in answers] == ["WillSupply", "Loaned"]
    assert await hku.answers(request.transaction_id, "ill.error") == []


async def test_a_message_illegal_in_the_state_is_refused_never_applied(hku: Lender):
    book = await _book(hku)
    request = hku.request(book)
    await hku.deliver(request)
    refused_id = await hku.deliver(hku.says(request, 2, "ShippedReturn"))

    lending = await hku.lending(request.transaction_id)
    assert lending["state"] == "WillSupply"
    assert lending["history"][-1]["refused"].startswith("ShippedReturn is not possible")
    [error] = await hku.answers(request.transaction_id, "ill.error")
    assert error["payload"]["refused_message_id"] == refused_id
    assert error["payload"]["state"] == "WillSupply"
    assert (await hku.item(book["id"]))["status"] == "IN_PROCESSING"


async def test_staff_of_another_library_cannot_see_or_act_on_the_lending(hku: Lender, kwnc):
    request = hku.request(await _book(hku))
    await hku.deliver(request)
    kwnc_token = kwnc.staff
    res = await hku.client.get(f"/api/v1/ill/lending/{request.transaction_id}", headers=kwnc_token)
    assert res.status_code in (401, 403)


async def test_a_request_meant_for_another_lender_is_dead_lettered_not_applied(hku: Lender):
    book = await _book(hku)
    request = hku.request(book).model_copy(update={"supplier": "hkbu"})
    await hku.deliver(request, dead_letter=True)
    assert (await hku.get(f"/api/v1/ill/lending/{request.transaction_id}")).status_code == 404
    assert (await hku.item(book["id"]))["status"] == "AVAILABLE"
