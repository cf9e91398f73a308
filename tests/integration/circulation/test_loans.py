"""Lending at one library: one quota whatever card (HKPL-09, HKPL-18), sets (HKPL-05),
returns at any branch, and every item status change leaving through the outbox."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from services.circulation.adapters.tables import items
from tests.integration.circulation.conftest import hkt


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


async def test_library_card_and_smart_id_share_one_quota_HKPL_09_HKPL_18_HKPL_14(desk):
    patron = await desk.register()
    second_card = desk.unique("C")
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/cards", {"card_number": second_card})
    assert res.status_code == 201, res.text
    hkid = desk.hkid()
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/smart-id", {"reading": desk.smart_id_reading(hkid)}
    )
    assert res.status_code == 201, res.text
    at_counter = {"hkid_number": hkid, "date_of_issue": "2020-03-01"}
    items = [await desk.add_item() for _ in range(11)]
    for n, item in enumerate(items[:10]):
        how = [
            {"card_number": patron["card_number"]},
            {"card_number": second_card},
            {"smart_id": at_counter},
        ][n % 3]
        res = await desk.post("/api/v1/loans", {**how, "item_id": item["id"]})
        assert res.status_code == 201, res.text
    for how in ({"card_number": second_card}, {"smart_id": at_counter}):
        res = await desk.post("/api/v1/loans", {**how, "item_id": items[10]["id"]})
        assert res.status_code == 409 and res.json()["rules"] == ["HKPL-09"]
    # HKPL-14: at borrowing only the HKID number and date of issue are read.
    res = await desk.post(
        "/api/v1/loans",
        {"smart_id": {**at_counter, "english_name": "CHAN, Tai Man"}, "item_id": items[10]["id"]},
    )
    assert res.status_code == 422
    assert res.json()["rules"] == ["HKPL-14"] and "english_name" in res.json()["detail"]


async def test_twenty_back_issues_or_ten_items_HKPL_09(desk):
    patron = await desk.register()
    issues = [await desk.add_item(material_type="periodical_back_issue") for _ in range(21)]
    for issue in issues[:20]:
        assert (await desk.checkout(patron["card_number"], issue)).status_code == 201
    res = await desk.checkout(patron["card_number"], issues[20])
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-09"]


async def _set(desk) -> tuple[dict, dict]:
    title = desk.unique("T")
    main = await desk.add_item(
        title="Cantonese: A Comprehensive Grammar",
        material_type="book_with_disc",
        set_id=title,
        title_id=title,
    )
    disc = await desk.add_item(
        title="Cantonese: A Comprehensive Grammar (CD-ROM)",
        material_type="book_with_disc",
        set_id=title,
        main_item_id=main["id"],
    )
    return main, disc


async def test_a_set_lends_as_one_and_is_refused_renewal_as_a_whole_HKPL_05_HKPL_09(desk):
    borrower, waiting = await desk.register(), await desk.register()
    main, disc = await _set(desk)
    res = await desk.checkout(borrower["card_number"], main)
    assert res.status_code == 201, res.text
    assert {x["item_id"] for x in res.json()["loans"]} == {main["id"], disc["id"]}
    account = (await desk.get(f"/api/v1/patrons/{pid(borrower)}")).json()
    assert account["quota"]["items"] == 1  # HKPL-09: the disc rides with its book
    res = await desk.post(
        "/api/v1/holds",
        {"patron_id": pid(waiting), "title_id": main["title_id"], "pickup_location": "kpl"},
    )
    assert res.status_code == 201 and res.json()["status"] == "waiting"
    disc_loan = next(x["loan_id"] for x in account["loans"] if x["item_id"] == disc["id"])
    await desk.travel(hkt(2026, 1, 26))  # a day later, so that renewing extends (HKPL-02)
    # Only the disc is selected, yet the set is decided together: none is renewed.
    res = await desk.post(f"/api/v1/patrons/{pid(borrower)}/renewals", {"loan_ids": [disc_loan]})
    assert res.status_code == 409
    body = res.json()
    assert body["rules"] == ["HKPL-05", "HKPL-03"] or set(body["rules"]) == {"HKPL-03", "HKPL-05"}
    by_item = {r["item_id"]: r["rule"] for r in body["refusals"]}
    assert by_item == {disc["id"]: "HKPL-05", main["id"]: "HKPL-03"}
    assert "items of a set are renewed together" in body["detail"]
    # The dry run says the same, and changes nothing.
    res = await desk.post(
        f"/api/v1/patrons/{pid(borrower)}/renewals/preview", {"loan_ids": [disc_loan]}
    )
    assert res.status_code == 200
    assert [o["renewable"] for o in res.json()["outcomes"]] == [False, False]
    loans = (await desk.get(f"/api/v1/patrons/{pid(borrower)}/loans")).json()["loans"]
    assert {x["renewals"] for x in loans} == {0}


async def test_checkout_and_return_at_another_branch_announce_each_status_once_HKPL_18(desk):
    patron = await desk.register()
    item = await desk.add_item(service_point="hkcl")
    key = {"Idempotency-Key": desk.unique("k")}
    body = {"card_number": patron["card_number"], "item_id": item["id"]}
    first = await desk.post("/api/v1/loans", body, **key)
    again = await desk.post("/api/v1/loans", body, **key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    await desk.travel(hkt(2026, 2, 1))
    res = await desk.give_back(item, "tmpl")
    assert res.status_code == 201 and res.json()["returned_to"] == "tmpl"
    res = await desk.give_back(item, "tmpl")
    assert res.status_code == 409  # not on loan any more
    res = await desk.give_back(item, "nowhere")
    assert res.status_code == 422
    changes = [
        (e["payload"]["status"], e["payload"]["version"])
        for e in await desk.messages("item.changed")
        if e["payload"]["item_id"] == item["id"]
    ]
    assert changes == [("AVAILABLE", 1), ("ON_LOAN", 2), ("AVAILABLE", 3)]
    item_now = (await desk.get(f"/api/v1/items/{item['id']}")).json()
    assert item_now["status"] == "AVAILABLE"


async def test_bad_requests_get_problem_documents_not_500s(desk):
    patron = await desk.register()
    res = await desk.post("/api/v1/loans", {"card_number": patron["card_number"]})
    assert res.status_code == 422
    res = await desk.post("/api/v1/loans", {"card_number": "NOSUCH01", "item_id": "x"})
    assert res.status_code == 404
    res = await desk.post("/api/v1/loans", {"smart_id": {"hkid_number": "bad"}, "item_id": "x"})
    assert res.status_code == 422
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/renewals", {"loan_ids": ["nope"]})
    assert res.status_code == 404
    res = await desk.get("/api/v1/renewal-transactions/HKPL-20260101-000001")
    assert res.status_code == 404
    res = await desk.post("/api/v1/patrons", {"category": "adult"})
    assert res.status_code == 422
    res = await desk.post(
        "/api/v1/holds", {"patron_id": pid(patron), "title_id": "none", "pickup_location": "kpl"}
    )
    assert res.status_code == 404
    for res in (
        await desk.post("/api/v1/patrons/nope/cards", {"card_number": "ABC12345"}),
        await desk.get("/api/v1/patrons/nope"),
        await desk.post("/api/v1/cards/NOSUCH01/lost"),
    ):
        assert res.status_code == 404
        assert res.headers["content-type"].startswith("application/problem+json")


async def test_other_libraries_and_patrons_may_not_use_staff_routes(desk):
    from libs.common.auth import client_secret
    from libs.common.settings import DEV_SECRET

    res = await desk.client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "cityu",
            "client_secret": client_secret(DEV_SECRET, "cityu"),
        },
    )
    other = {"Authorization": f"Bearer {res.json()['access_token']}"}
    res = await desk.client.get("/api/v1/patrons/anyone", headers=other)
    assert res.status_code == 403
    # Patrons' personal data stays with their library: not even operators may look.
    res = await desk.client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "operator",
            "client_secret": client_secret(DEV_SECRET, "operator"),
        },
    )
    operator = {"Authorization": f"Bearer {res.json()['access_token']}"}
    res = await desk.client.get("/api/v1/patrons/anyone", headers=operator)
    assert res.status_code == 403
    patron = await desk.register()
    token = (await desk.sign_in(patron["card_number"], "s3cret-pass")).json()["access_token"]
    mine = {"Authorization": f"Bearer {token}"}
    res = await desk.client.get(f"/api/v1/patrons/{pid(patron)}", headers=mine)
    assert res.status_code == 403
    res = await desk.client.get("/api/v1/me", headers=desk.staff)
    assert res.status_code == 403


async def test_charges_ceiling_and_overdue_time_limit_stop_borrowing_and_renewing_HKPL_03(desk):
    # The outstanding-charges ceiling ($130 in this deployment's policy).
    owes = await desk.register()
    lost = await desk.add_item()
    await desk.checkout(owes["card_number"], lost)
    [loan] = (await desk.get(f"/api/v1/patrons/{pid(owes)}/loans")).json()["loans"]
    await desk.post(f"/api/v1/loans/{loan['loan_id']}/lost", {"replacement_cost_minor": 15000})
    res = await desk.checkout(owes["card_number"], await desk.add_item())
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-03"]
    assert "have reached the limit of HKD 130.00" in res.json()["detail"]

    # An item more than 60 days overdue: nothing renews, nothing more is lent.
    late = await desk.register()
    kept, other = await desk.add_item(), await desk.add_item()
    await desk.checkout(late["card_number"], kept)
    await desk.checkout(late["card_number"], other)
    await desk.travel(hkt(2026, 4, 10))  # due 8 February: 61 days overdue
    res = await desk.post(f"/api/v1/patrons/{pid(late)}/renewals/preview", {"loan_ids": []})
    outcomes = res.json()["outcomes"]
    assert [o["renewable"] for o in outcomes] == [False, False]
    assert all("HKPL-03" in o["rules"] for o in outcomes)
    res = await desk.checkout(late["card_number"], await desk.add_item())
    assert res.status_code == 409 and "HKPL-03" in res.json()["rules"]
    # Every refusal is told, not only the first.
    assert len(res.json()["refusals"]) >= 2


async def test_a_guarantors_card_costs_the_adult_fee_to_replace_HKPL_12_HKPL_16(desk):
    guarantor = {"name": "Lee Ka Wai", "relationship": "guardian", "date_of_birth": "2010-01-01"}
    res = await desk.post(
        "/api/v1/patrons",
        {
            "category": "junior",
            "name_en": "Lee Siu Ming",
            "date_of_birth": "2014-02-14",
            "address": {"lines": ["8 Tuen Mun Road"]},
            "email": "lee@example.hk",
            "guarantor": guarantor,
        },
    )
    assert res.status_code == 422 and res.json()["rules"] == ["HKPL-16"]  # a minor guarantor
    junior = await desk.register(
        category="junior",
        date_of_birth="2014-02-14",
        guarantor={**guarantor, "date_of_birth": "1980-07-07"},
    )
    card = desk.unique("G")
    res = await desk.post(
        f"/api/v1/patrons/{pid(junior)}/cards", {"card_number": card, "guarantor_card": True}
    )
    assert res.status_code == 201
    res = await desk.post(
        f"/api/v1/cards/{card}/replacement", {"new_card_number": desk.unique("G")}
    )
    assert res.json()["charge"]["amount_minor"] == 3300
    res = await desk.post(
        f"/api/v1/cards/{junior['card_number']}/replacement", {"new_card_number": desk.unique("J")}
    )
    assert res.json()["charge"]["amount_minor"] == 1700


async def test_staff_cannot_set_or_clear_on_loan_or_on_hold_shelf_by_hand(desk):
    first, second = await desk.register(), await desk.register()
    item = await desk.add_item()
    assert (await desk.checkout(first["card_number"], item)).status_code == 201
    status = f"/api/v1/items/{item['id']}/status"
    for wanted in ("AVAILABLE", "MISSING", "ON_HOLD_SHELF"):
        res = await desk.post(status, {"status": wanted})
        assert res.status_code == 409 and "loan" in res.json()["detail"], res.text
    assert (await desk.get(f"/api/v1/items/{item['id']}")).json()["status"] == "ON_LOAN"
    assert (await desk.checkout(second["card_number"], item)).status_code == 409
    assert (await desk.give_back(item)).status_code == 201
    other = await desk.add_item()
    for wanted in ("ON_LOAN", "ON_HOLD_SHELF"):
        res = await desk.post(f"/api/v1/items/{other['id']}/status", {"status": wanted})
        assert res.status_code == 409, res.text
    res = await desk.post(f"/api/v1/items/{other['id']}/status", {"status": "MISSING"})
    assert res.status_code == 200 and res.json()["status"] == "MISSING"
    res = await desk.post(f"/api/v1/items/{other['id']}/status", {"status": "AVAILABLE"})
    assert res.status_code == 200 and res.json()["status"] == "AVAILABLE"
    assert (await desk.post("/api/v1/items/nothing/status", {"status": "LOST"})).status_code == 404


async def test_a_returned_withdrawn_or_damaged_item_keeps_its_status_a_lost_one_is_found(desk):
    patron = await desk.register()
    for marked, after in (
        ("WITHDRAWN", "WITHDRAWN"),
        ("DAMAGED", "DAMAGED"),
        ("LOST", "AVAILABLE"),
    ):
        item = await desk.add_item()
        assert (await desk.checkout(patron["card_number"], item)).status_code == 201
        # Marked while out (by the catalogue or the loss process), not through the route.
        async with desk.runtime.engine.begin() as conn:
            await conn.execute(update(items).where(items.c.id == item["id"]).values(status=marked))
        res = await desk.give_back(item)
        assert res.status_code == 201 and res.json()["item_status"] == after, (marked, res.text)
        assert (await desk.get(f"/api/v1/items/{item['id']}")).json()["status"] == after


async def test_a_renewal_that_would_not_extend_is_refused_and_not_counted_HKPL_02(desk):
    patron = await desk.register()
    [loan] = (await desk.checkout(patron["card_number"], await desk.add_item())).json()["loans"]
    url = f"/api/v1/patrons/{pid(patron)}/renewals"
    res = await desk.post(url, {"loan_ids": [loan["loan_id"]]})  # the checkout day
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-02"], res.text
    assert [r["code"] for r in res.json()["refusals"]] == ["renewal_would_not_extend"]
    assert (
        "already due on 8 February 2026; renewing today would not extend it" in res.json()["detail"]
    )
    await desk.travel(hkt(2026, 2, 6))
    first = await desk.post(url, {"loan_ids": [loan["loan_id"]]})
    assert first.status_code == 201 and first.json()["items"][0]["new_due_date"] == "2026-02-20"
    double_click = await asyncio.gather(
        desk.post(url, {"loan_ids": [loan["loan_id"]]}),
        desk.post(url, {"loan_ids": [loan["loan_id"]]}),
    )
    assert [r.status_code for r in double_click] == [409, 409]
    assert all("already due on 20 February 2026" in r.json()["detail"] for r in double_click)
    [now] = (await desk.get(f"/api/v1/patrons/{pid(patron)}/loans")).json()["loans"]
    assert (now["renewals"], now["consecutive_renewals"], now["due_date"]) == (1, 1, "2026-02-20")
    approved = [n for n in await desk.notices(pid(patron)) if n["kind"] == "renewal_approved"]
    assert [n["transaction_ref"] for n in approved] == [first.json()["transaction_ref"]]


async def test_accompanying_material_needs_a_main_item_of_its_set_HKPL_09_HKPL_05(desk):
    main, disc = await _set(desk)
    other_set = desk.unique("S")
    for set_id, main_item_id in (
        (other_set, "ghost"),  # points nowhere
        (other_set, main["id"]),  # a main item of another set
        (main["set_id"], disc["id"]),  # accompanying material is no main item
    ):
        res = await desk.post(
            "/api/v1/items",
            {
                "barcode": desk.unique("B"),
                "title": "Map",
                "material_type": "book_with_disc",
                "service_point": "hkcl",
                "set_id": set_id,
                "main_item_id": main_item_id,
            },
        )
        assert res.status_code == 422 and "HKPL-09" in res.json()["detail"], res.text
    # The set as added counts once, through its main item, towards the quota.
    patron = await desk.register()
    assert (await desk.checkout(patron["card_number"], disc)).status_code == 201
    account = (await desk.get(f"/api/v1/patrons/{pid(patron)}")).json()
    assert account["quota"]["items"] == 1 and len(account["loans"]) == 2
