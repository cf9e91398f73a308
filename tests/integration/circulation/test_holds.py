"""Reservations: a queue per title, the copy assigned on return, the pickup shelf with its
deadline, the fee at collection (HKPL-11), and renewals blocked by a reservation (HKPL-03)."""

from __future__ import annotations

from tests.integration.circulation.conftest import hkt


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


async def _hold(desk, patron: dict, title_id: str, where: str = "stpl"):
    return await desk.post(
        "/api/v1/holds",
        {"patron_id": pid(patron), "title_id": title_id, "pickup_location": where},
    )


async def test_a_reserved_item_with_no_other_copy_is_not_renewed_HKPL_03_and_fee_HKPL_11(desk):
    borrower, reader = await desk.register(), await desk.register(email="reader@example.hk")
    item = await desk.add_item(title="紅樓夢", title_id=desk.unique("T"))
    assert (await desk.checkout(borrower["card_number"], item)).status_code == 201
    res = await _hold(desk, reader, item["title_id"])
    assert res.status_code == 201 and res.json()["status"] == "waiting"
    loan = (await desk.get(f"/api/v1/patrons/{pid(borrower)}/loans")).json()["loans"][0]

    res = await desk.post(
        f"/api/v1/patrons/{pid(borrower)}/renewals", {"loan_ids": [loan["loan_id"]]}
    )
    assert res.status_code == 409
    assert res.json()["rules"] == ["HKPL-03"]
    assert (
        "renewal refused: another reader has reserved the item and no other copy is "
        "available (HKPL-03)"
    ) in res.json()["detail"]

    # The copy comes back at another branch and waits on the pickup shelf for the reader.
    await desk.travel(hkt(2026, 2, 2))
    res = await desk.give_back(item, "kpl")
    assert res.status_code == 201 and res.json()["item_status"] == "ON_HOLD_SHELF"
    [ready] = [n for n in await desk.notices(pid(reader)) if n["kind"] == "reservation_ready"]
    assert ready["title"] == "紅樓夢"
    assert ready["pickup_location"] == "Sha Tin Public Library"
    assert ready["pickup_by"] == "2026-02-09"  # the policy's 7 days on the shelf
    assert ready["email"] == "reader@example.hk"
    # Kept for the reader: nobody else may borrow it.
    assert (await desk.checkout(borrower["card_number"], item)).status_code == 409
    res = await desk.checkout(reader["card_number"], item)
    assert res.status_code == 201, res.text
    [fee] = res.json()["fees"]
    assert (fee["kind"], fee["amount_minor"], fee["rule"]) == ("reservation_fee", 330, "HKPL-11")
    holds = (await desk.get(f"/api/v1/patrons/{pid(reader)}/holds")).json()["holds"]
    assert holds == []  # collected
    statuses = [
        e["payload"]["status"]
        for e in await desk.messages("item.changed")
        if e["payload"]["item_id"] == item["id"]
    ]
    assert statuses == ["AVAILABLE", "ON_LOAN", "ON_HOLD_SHELF", "ON_LOAN"]


async def test_renewing_several_renews_what_may_be_and_tells_what_may_not_HKPL_03(desk):
    borrower, reader = await desk.register(), await desk.register()
    reserved = await desk.add_item(title_id=desk.unique("T"))
    free = await desk.add_item()
    for item in (reserved, free):
        await desk.checkout(borrower["card_number"], item)
    await _hold(desk, reader, reserved["title_id"])
    await desk.travel(hkt(2026, 1, 26))  # a day later, so that renewing extends (HKPL-02)
    loans = (await desk.get(f"/api/v1/patrons/{pid(borrower)}/loans")).json()["loans"]
    res = await desk.post(
        f"/api/v1/patrons/{pid(borrower)}/renewals", {"loan_ids": [x["loan_id"] for x in loans]}
    )
    assert res.status_code == 201, res.text
    assert [i["item_id"] for i in res.json()["items"]] == [free["id"]]
    [refused] = res.json()["refused"]
    assert refused["item_id"] == reserved["id"] and refused["rules"] == ["HKPL-03"]


async def test_another_copy_on_the_shelf_is_assigned_and_the_loan_renews_HKPL_03(desk):
    borrower, reader = await desk.register(), await desk.register()
    title = desk.unique("T")
    lent, spare = await desk.add_item(title_id=title), await desk.add_item(title_id=title)
    assert (await desk.checkout(borrower["card_number"], lent)).status_code == 201
    res = await _hold(desk, reader, title)
    assert res.json()["status"] == "ready" and res.json()["item_id"] == spare["id"]
    await desk.travel(hkt(2026, 1, 26))  # a day later, so that renewing extends (HKPL-02)
    loan = (await desk.get(f"/api/v1/patrons/{pid(borrower)}/loans")).json()["loans"][0]
    res = await desk.post(
        f"/api/v1/patrons/{pid(borrower)}/renewals", {"loan_ids": [loan["loan_id"]]}
    )
    assert res.status_code == 201, res.text


async def test_uncollected_reservation_expires_and_the_copy_goes_to_the_next_reader(desk):
    first, second = await desk.register(), await desk.register()
    item = await desk.add_item(title_id=desk.unique("T"))
    ready = (await _hold(desk, first, item["title_id"])).json()
    assert ready["status"] == "ready" and ready["pickup_by"] == "2026-02-01"
    waiting = (await _hold(desk, second, item["title_id"], "tmpl")).json()
    assert waiting["status"] == "waiting"
    # Other tests share the database, so only this test's holds are looked at.
    await desk.travel(hkt(2026, 2, 1, 20))
    assert (await desk.post("/api/v1/holds/expire")).status_code == 200
    [still] = (await desk.get(f"/api/v1/patrons/{pid(first)}/holds")).json()["holds"]
    assert still["status"] == "ready"  # the last day to collect is not over
    await desk.travel(hkt(2026, 2, 2))
    assert (await desk.post("/api/v1/holds/expire")).json()["expired"] >= 1
    assert (await desk.get(f"/api/v1/patrons/{pid(first)}/holds")).json()["holds"] == []
    [now] = (await desk.get(f"/api/v1/patrons/{pid(second)}/holds")).json()["holds"]
    assert now["status"] == "ready" and now["pickup_by"] == "2026-02-09"
    assert [n["pickup_location"] for n in await desk.notices(pid(second))] == [
        "Tuen Mun Public Library"
    ]
    # The second reader cancels: the copy goes back on the shelf.
    res = await desk.post(f"/api/v1/holds/{now['hold_id']}/cancel")
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    assert (await desk.get(f"/api/v1/items/{item['id']}")).json()["status"] == "AVAILABLE"


async def test_a_suspended_account_cannot_reserve_and_a_title_is_held_once(desk):
    patron = await desk.register()
    item = await desk.add_item(title_id=desk.unique("T"))
    other = await desk.register()
    await desk.checkout(other["card_number"], item)
    assert (await _hold(desk, patron, item["title_id"])).status_code == 201
    res = await _hold(desk, patron, item["title_id"])
    assert res.status_code == 409 and res.json()["type"].endswith("/duplicate-hold")
    await desk.post(f"/api/v1/cards/{patron['card_number']}/lost")
    res = await _hold(desk, patron, desk.unique("T"))
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-15"]


async def test_copies_with_one_isbn_share_a_queue_and_the_daily_job_expires_pickups(desk):
    isbn = f"978{desk.unique()[-10:]}"[:13]
    first = await desk.add_item(isbn=isbn)
    second = await desk.add_item(isbn=isbn)
    assert first["title_id"] == second["title_id"] == isbn
    readers = [await desk.register() for _ in range(3)]
    holds = [(await _hold(desk, r, isbn)).json() for r in readers]
    assert [h["status"] for h in holds] == ["ready", "ready", "waiting"]
    [job] = [j for j in desk.runtime.jobs if j.name == "hold-pickup-expiry"]
    desk.clock.set(hkt(2026, 2, 2))  # both pickup days (1 February) are over
    assert await job.run() >= 2
    await desk.login_staff()
    [third] = (await desk.get(f"/api/v1/patrons/{pid(readers[2])}/holds")).json()["holds"]
    assert third["status"] == "ready" and third["item_id"] in {first["id"], second["id"]}
    statuses = {
        i["id"]: (await desk.get(f"/api/v1/items/{i['id']}")).json()["status"]
        for i in (first, second)
    }
    assert sorted(statuses.values()) == ["AVAILABLE", "ON_HOLD_SHELF"]
