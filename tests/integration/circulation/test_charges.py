"""Fines on return by the library's section (HKPL-10), lost and damaged items (HKPL-13),
payments and waivers with who and why, money in integer cents."""

from __future__ import annotations

from tests.integration.circulation.conftest import hkt


def pid(patron: dict) -> str:
    return patron["patron"]["patron_id"]


async def test_fines_on_return_by_section_per_day_or_part_thereof_HKPL_10(desk):
    patron = await desk.register()
    adult = await desk.add_item(section="adult")
    children = await desk.add_item(section="children", service_point="stpl")
    young = await desk.add_item(section="young_adult")
    for item in (adult, children, young):
        assert (await desk.checkout(patron["card_number"], item)).status_code == 201
    # Due 8 February; back on the 10th just after opening: two days, each counted whole.
    await desk.travel(hkt(2026, 2, 10, 9))
    fines = {}
    for item in (adult, children, young):
        res = await desk.give_back(item)
        assert res.status_code == 201, res.text
        fines[item["section"]] = res.json()["fine"]
    assert {k: (v["amount_minor"], v["rule"]) for k, v in fines.items()} == {
        "adult": (300, "HKPL-10"),
        "children": (100, "HKPL-10"),
        "young_adult": (100, "HKPL-10"),
    }
    [notice, *_] = [n for n in await desk.notices(pid(patron)) if n["kind"] == "fine"]
    assert notice["currency"] == "HKD" and notice["rule"] == "HKPL-10"


async def test_payments_and_waivers_record_who_and_why(desk):
    patron = await desk.register()
    item = await desk.add_item()
    await desk.checkout(patron["card_number"], item)
    await desk.travel(hkt(2026, 2, 12))
    fine = (await desk.give_back(item)).json()["fine"]
    assert fine["amount_minor"] == 600
    charges = f"/api/v1/patrons/{pid(patron)}/charges"
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/payments",
        {"amount_minor": 1000, "reason": "cash"},
    )
    assert res.status_code == 422  # more than is owed
    key = {"Idempotency-Key": desk.unique("pay")}
    body = {"amount_minor": 250, "reason": "cash at the counter", "received_by": "Ms Wong"}
    first = await desk.post(f"/api/v1/patrons/{pid(patron)}/payments", body, **key)
    again = await desk.post(f"/api/v1/patrons/{pid(patron)}/payments", body, **key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert first.json()["outstanding_minor"] == 350
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/waivers",
        {
            "amount_minor": 400,
            "reason": "book drop was closed",
            "granted_by": "Mr Lee",
            "applies_to": fine["entry_id"],
        },
    )
    assert res.status_code == 422  # a waiver never exceeds what its charge still owes
    res = await desk.post(
        f"/api/v1/patrons/{pid(patron)}/waivers",
        {
            "amount_minor": 350,
            "reason": "book drop was closed",
            "granted_by": "Mr Lee",
            "applies_to": fine["entry_id"],
        },
    )
    assert res.status_code == 201, res.text
    statement = (await desk.get(charges)).json()
    assert statement["outstanding_minor"] == 0
    credits = [(e["kind"], e["actor"], e["reason"]) for e in statement["entries"][1:]]
    assert credits == [
        ("payment", "Ms Wong (hkpl)", "cash at the counter"),
        ("waiver", "Mr Lee (hkpl)", "book drop was closed"),
    ]


async def test_lost_and_damaged_items_cost_the_librarians_sum_plus_surcharge_HKPL_13(desk):
    patron = await desk.register()
    lost, damaged = await desk.add_item(), await desk.add_item()
    for item in (lost, damaged):
        await desk.checkout(patron["card_number"], item)
    loans = (await desk.get(f"/api/v1/patrons/{pid(patron)}/loans")).json()["loans"]
    loan_of = {x["item_id"]: x["loan_id"] for x in loans}
    res = await desk.post(
        f"/api/v1/loans/{loan_of[lost['id']]}/lost",
        {"replacement_cost_minor": 20000, "surcharge_percent": 25},
    )
    assert res.status_code == 422  # HKPL-13: a surcharge of up to 20%
    assert res.json()["rules"] == ["HKPL-13"], res.text
    assert [r["code"] for r in res.json()["refusals"]] == ["surcharge_too_high"]
    assert res.json()["detail"] == (
        "lost item charge refused: a surcharge of 25% is more than the 20% allowed on top of "
        "the replacement cost (HKPL-13)"
    )
    for kind in ("lost", "damaged"):  # nothing was charged or ended by the refusal
        res = await desk.post(
            f"/api/v1/loans/{loan_of[damaged['id']]}/{kind}", {"surcharge_percent": 21}
        )
        assert res.status_code == 422 and res.json()["rules"] == ["HKPL-13"]
    assert (await desk.get(f"/api/v1/patrons/{pid(patron)}/charges")).json()["entries"] == []
    res = await desk.post(
        f"/api/v1/loans/{loan_of[lost['id']]}/lost",
        {"replacement_cost_minor": 20000, "surcharge_percent": 10},
    )
    assert res.status_code == 201, res.text
    charge = res.json()["charge"]
    assert (charge["kind"], charge["amount_minor"], charge["rule"]) == (
        "lost_item",
        22000,
        "HKPL-13",
    )
    res = await desk.post(
        f"/api/v1/loans/{loan_of[damaged['id']]}/damaged", {"replacement_cost_minor": 15000}
    )
    assert res.status_code == 201
    assert res.json()["charge"]["amount_minor"] == 18000  # the policy's default surcharge, 20%
    assert (await desk.get(f"/api/v1/items/{lost['id']}")).json()["status"] == "LOST"
    assert (await desk.get(f"/api/v1/items/{damaged['id']}")).json()["status"] == "DAMAGED"
    account = (await desk.get(f"/api/v1/patrons/{pid(patron)}")).json()
    assert account["loans"] == [] and account["charges"]["outstanding_minor"] == 40000
    res = await desk.post(f"/api/v1/loans/{loan_of[lost['id']]}/lost", {})
    assert res.status_code == 409  # already settled as lost


async def test_the_fine_charged_when_an_overdue_item_is_renewed_is_mailed_HKPL_04_HKPL_10(desk):
    patron = await desk.register()
    item = await desk.add_item(title="Hong Kong Cinema")
    [loan] = (await desk.checkout(patron["card_number"], item)).json()["loans"]
    await desk.travel(hkt(2026, 2, 11))  # due 8 February: three days late
    res = await desk.post(
        f"/api/v1/patrons/{patron['patron']['patron_id']}/renewals",
        {"loan_ids": [loan["loan_id"]]},
    )
    assert res.status_code == 201, res.text
    notices = await desk.notices(patron["patron"]["patron_id"])
    [fine] = [n for n in notices if n["kind"] == "fine"]
    assert (fine["amount_minor"], fine["currency"], fine["rule"]) == (450, "HKD", "HKPL-10")
    [approved] = [n for n in notices if n["kind"] == "renewal_approved"]
    assert approved["title"] == "Hong Kong Cinema" and approved["due_date"] == "2026-02-25"
