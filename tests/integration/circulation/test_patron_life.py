"""A patron's life at Hong Kong Public Libraries, through the REST API: registration with a
guarantor, a full quota, renewals on time and late up to the limit, a lost card, fines paid.
"""

from __future__ import annotations

import re

from tests.integration.circulation.conftest import hkt


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


async def test_patron_life_HKPL_16_09_01_02_04_06_03_15_12_10(desk):
    # HKPL-16: an applicant under 18 is refused without a guarantor...
    young = {
        "category": "junior",
        "name_en": "Chan Siu Ming",
        "date_of_birth": "2012-06-15",
        "address": {"lines": ["8 Sha Tin Centre Street"], "district": "Sha Tin"},
        "email": "siuming@example.hk",
        "phone": "+852 6123 9876",
        "card_number": desk.unique("J"),
        "password": "young-reader",
    }
    res = await desk.post("/api/v1/patrons", young)
    assert res.status_code == 422
    assert res.headers["content-type"].startswith("application/problem+json")
    assert res.json()["rules"] == ["HKPL-16"]
    assert "needs a guarantor" in res.json()["detail"]
    # ...and registered with one, who is liable for the charges.
    guarantor = {"name": "Chan Tai Man", "relationship": "parent", "date_of_birth": "1980-02-01"}
    res = await desk.post("/api/v1/patrons", {**young, "guarantor": guarantor})
    assert res.status_code == 201, res.text
    patron = res.json()
    card = young["card_number"]
    assert patron["patron"]["guarantor"]["name"] == "Chan Tai Man"
    assert patron["patron"]["status"] == "active"

    # HKPL-09: ten items, then the eleventh is refused, naming the rule.
    items = [await desk.add_item(title=f"Reader {n}") for n in range(11)]
    for item in items[:10]:
        res = await desk.checkout(card, item)
        assert res.status_code == 201, res.text
        # HKPL-01: due 14 days after the day of borrowing (25 January).
        assert res.json()["loans"][0]["due_date"] == "2026-02-08"
    res = await desk.checkout(card, items[10])
    assert res.status_code == 409
    body = res.json()
    assert "HKPL-09" in body["rules"]
    assert body["detail"].startswith("checkout refused:") and "(HKPL-09)" in body["detail"]

    # HKPL-02: due on the 8th, renewed on the 6th: due on the 20th (late at night, HKPL-07).
    loans = (await desk.get(f"/api/v1/patrons/{pid(patron)}/loans")).json()["loans"]
    loan_id = next(x["loan_id"] for x in loans if x["item_id"] == items[0]["id"])
    await desk.travel(hkt(2026, 2, 6, 23))
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/renewals", {"loan_ids": [loan_id]})
    assert res.status_code == 201, res.text
    renewal = res.json()
    assert renewal["items"] == [
        {"loan_id": loan_id, "item_id": items[0]["id"], "new_due_date": "2026-02-20"}
    ]
    # HKPL-06: a Transaction Reference Number that can be looked up later.
    ref = renewal["transaction_ref"]
    assert re.fullmatch(r"HKPL-20260206-\d{6}", ref)
    looked_up = (await desk.get(f"/api/v1/renewal-transactions/{ref}")).json()
    assert looked_up["items"][0]["new_due_date"] == "2026-02-20"
    assert looked_up["items"][0]["title"] == "Reader 0"
    # HKPL-18: the others go back on time, at any branch.
    for n, item in enumerate(items[1:10]):
        res = await desk.give_back(item, ["hkcl", "kpl", "stpl", "tmpl"][n % 4])
        assert res.status_code == 201, res.text
        assert res.json()["fine"] is None and res.json()["item_status"] == "AVAILABLE"

    # HKPL-04: overdue (due the 20th, renewed the 23rd): renewed from the 23rd, and the three
    # late days are charged at the adult library's $1.5 a day (HKPL-10).
    await desk.travel(hkt(2026, 2, 23))
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/renewals", {"loan_ids": [loan_id]})
    assert res.status_code == 201, res.text
    assert res.json()["items"][0]["new_due_date"] == "2026-03-09"
    [fine] = res.json()["fines"]
    assert (fine["amount_minor"], fine["currency"], fine["rule"]) == (450, "HKD", "HKPL-10")

    # HKPL-03: five consecutive renewals, then no more.
    for day in (1, 10, 20):
        await desk.travel(hkt(2026, 3, day))
        res = await desk.post(f"/api/v1/patrons/{pid(patron)}/renewals", {"loan_ids": [loan_id]})
        assert res.status_code == 201, res.text
    await desk.travel(hkt(2026, 3, 25))
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/renewals", {"loan_ids": [loan_id]})
    assert res.status_code == 409
    assert res.json()["rules"] == ["HKPL-03"]
    assert (
        "renewal refused: the item has been renewed 5 consecutive times (HKPL-03)"
        in res.json()["detail"]
    )

    # HKPL-15: the card is reported lost; it stops working and the account is suspended.
    res = await desk.post(f"/api/v1/cards/{card}/lost")
    assert res.status_code == 200, res.text
    assert res.json()["patron"]["status"] == "suspended"
    res = await desk.checkout(card, items[10])
    assert res.status_code == 409 and res.json()["rules"] == ["HKPL-15"]
    res = await desk.post(f"/api/v1/patrons/{pid(patron)}/renewals", {"loan_ids": [loan_id]})
    assert res.status_code == 409 and "HKPL-15" in res.json()["rules"]
    notices = [n["kind"] for n in await desk.notices(pid(patron))]
    assert "lost_card_reported" in notices and "renewal_approved" in notices

    # HKPL-12: the replacement card costs $17 under 18; binding it lifts the suspension.
    new_card = desk.unique("J")
    res = await desk.post(f"/api/v1/cards/{card}/replacement", {"new_card_number": new_card})
    assert res.status_code == 201, res.text
    assert res.json()["charge"]["amount_minor"] == 1700
    assert res.json()["charge"]["rule"] == "HKPL-12"
    assert res.json()["patron"]["status"] == "active"
    res = await desk.checkout(new_card, items[10])
    assert res.status_code == 201, res.text

    # Pay what is owed: the fine for the late renewal and the replacement card.
    statement = (await desk.get(f"/api/v1/patrons/{pid(patron)}/charges")).json()
    owed = statement["outstanding_minor"]
    assert owed == 450 + 1700
    assert sorted(e["kind"] for e in statement["entries"]) == [
        "card_replacement",
        "overdue_fine",
    ]
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/payments",
        {"amount_minor": owed, "reason": "paid at the counter", "received_by": "Ms Wong"},
    )
    assert res.status_code == 201, res.text
    assert res.json()["outstanding_minor"] == 0
    account = (await desk.get(f"/api/v1/patrons/{pid(patron)}")).json()
    assert account["charges"]["outstanding_minor"] == 0
    assert account["quota"]["items"] == 2 and account["quota"]["items_limit"] == 10
